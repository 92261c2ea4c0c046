// Package plan turns a desired state and a live host into the ordered
// steps that converge it, each classified benign or destructive, and
// renders them for people (text), programs (JSON) and apply (saved plans).
// It never mutates the host.
//
// # How data flows
//
//		schema.Host ─┐
//		             ├─ Make ─▶ Observe ─▶ Live ─▶ Diff ─▶ Plan ─▶ CheckResources ─▶ AttachRequests
//		Proxmox API ─┘                              ▲
//		journal (Provenance) ───────────────────────┘
//
//	  - Observe (observe.go) reads the host: one list call, one GET pending
//	    per guest the file names, and snapshots and storage contents only
//	    where a step needs them.
//	  - Diff (diff.go, guest.go, update.go, jobs.go, host.go) compares in
//	    canonical form (values.go) and builds each step from its op's params
//	    struct (package ops): the params name everything a destructive step
//	    loses (volumes.go: owned volumes, those a backup covers, the ones it
//	    does not, named unprotected). Its class comes from the op, raised to
//	    destructive where the step hands data from elsewhere (a restore of
//	    another live guest's archive) or loses a future recovery point
//	    (turning backup off). Provenance, from the journal only, can lower
//	    none of that but a destroy of a guest the tool made in an open
//	    transaction.
//	  - CheckResources (resources.go) checks the bridges and storages the
//	    steps use; AttachRequests (requests.go) gives every destructive step
//	    its signature request, bound to the host's name and identity.
//	  - Render (render.go) and JSON print the plan; Saved and ReadSaved
//	    (planfile.go) write and authenticate saved plans, and Narrow keeps
//	    only the saved steps a fresh plan still has.
package plan
