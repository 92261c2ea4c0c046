// Package apply runs a plan: the signature gate, the executor, crash
// recovery and the audit log. It never parses HCL.
package apply
