// Package proxmox is the only package that touches the Proxmox VE host.
//
// It has two halves that never mix, and a test holds them apart:
//
//   - [Client] talks to the Proxmox VE HTTP API with an API token. It never
//     starts a process.
//   - [Privileged] runs the few root-only commands the API cannot do. It
//     never opens a network connection.
//
// Client reads plain structs (guests, configs, storage, tasks) and offers
// typed mutations; asynchronous ones return a [UPID] to wait on with
// WaitTask. Errors are typed: *APIError for a refused request (with the
// missing privilege parsed from a 403), *TaskError for a task that ended
// badly. The API token is a secret: it never appears in an error, a log
// line or a formatted value.
//
// The package decides nothing; plan and apply do.
package proxmox
