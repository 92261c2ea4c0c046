package proxmox

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// APIError is a request Proxmox refused. pveproxy puts the error text in
// the HTTP status line (the reason phrase); from libpve-http-server-perl 5.2
// (PVE 8.3/8.4) the JSON body repeats it in "message". A 400 carries the
// per-parameter messages in "errors". A 401 has an empty body.
type APIError struct {
	Method string // GET, POST, PUT, DELETE
	Path   string // API path below /api2/json, e.g. /nodes/pve/lxc/100/config
	Status int    // HTTP status code

	// Message is the error text: the reason phrase, or the body's
	// "message" when it says more (the full text of a multi-line error) or
	// the reason phrase is empty.
	Message string

	// ParamErrors maps a parameter name to Proxmox's complaint about it
	// (400 "Parameter verification failed.").
	ParamErrors map[string]string

	// Privilege and ACLPath are parsed from "Permission check failed
	// (/vms/100, VM.Config.Memory)". Privilege may list alternatives
	// joined by '|', any one of which would do. Both are empty when the
	// text names none (custom permission texts, or a bare "Permission
	// check failed").
	Privilege string
	ACLPath   string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.Status)
	if e.Message != "" {
		b.WriteString(" ")
		b.WriteString(e.Message)
	}
	if len(e.ParamErrors) > 0 {
		keys := make([]string, 0, len(e.ParamErrors))
		for k := range e.ParamErrors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s", k, e.ParamErrors[k])
		}
		b.WriteString(")")
	}
	if e.Status == 401 {
		// The reason says little (PVE 8.4.17+: "Authentication failed!").
		b.WriteString(" (the API token was refused: check its USER@REALM!TOKENID and secret, that it has not expired, and that its user is enabled)")
	}
	return b.String()
}

// TaskError is a Proxmox task that stopped with an exit status other than
// OK or WARNINGS. Authorization can fail here, inside the worker, after the
// POST that started the task succeeded.
type TaskError struct {
	UPID       UPID
	ExitStatus string // the bare error text, e.g. "CT is locked (backup)"

	// Privilege and ACLPath are parsed from the exit status when it holds a
	// "Permission check failed (...)" text.
	Privilege string
	ACLPath   string

	// Log holds the last lines of the task log when they could be fetched.
	Log []string
}

func (e *TaskError) Error() string {
	what := e.UPID.Type
	if e.UPID.ID != "" {
		what += " " + e.UPID.ID
	}
	return fmt.Sprintf("task %s (%s) failed: %s", what, e.UPID, e.ExitStatus)
}

// TaskWarnings reports a task that succeeded with warnings: Proxmox's
// exitstatus "WARNINGS: N". WaitTask returns it instead of nil so a caller
// can surface the warnings; a caller that only needs success treats it as
// nil (see [IsTaskWarnings]).
type TaskWarnings struct {
	UPID  UPID
	Count int      // N from "WARNINGS: N"
	Log   []string // the task log's WARN: lines, when they could be fetched
}

func (e *TaskWarnings) Error() string {
	return fmt.Sprintf("task %s (%s) succeeded with %d warning(s)", e.UPID.Type, e.UPID, e.Count)
}

// IsTaskWarnings reports whether err is (or wraps) a [TaskWarnings]: the
// task succeeded.
func IsTaskWarnings(err error) bool {
	var w *TaskWarnings
	return errors.As(err, &w)
}

var (
	// "Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CPU)"
	permPattern = regexp.MustCompile(`Permission check failed \((/[^,()\s]*), ([A-Za-z][A-Za-z.]*(?:\|[A-Za-z][A-Za-z.]*)*)\)`)
	// "CT is locked (backup)"; qemu says "VM is locked".
	lockPattern = regexp.MustCompile(`(?:CT|VM) is locked \(([a-z-]+)\)`)
	// "Configuration file 'nodes/pve/lxc/100.conf' does not exist"
	notFoundPattern = regexp.MustCompile(`Configuration file '[^']*' does not exist`)
)

// parsePermission extracts the ACL path and privilege from a permission
// error text.
func parsePermission(msg string) (path, priv string) {
	if m := permPattern.FindStringSubmatch(msg); m != nil {
		return m[1], m[2]
	}
	return "", ""
}

// errorText is the message a caller's predicates look at.
func errorText(err error) (status int, text string, ok bool) {
	var api *APIError
	if errors.As(err, &api) {
		return api.Status, api.Message, true
	}
	var task *TaskError
	if errors.As(err, &task) {
		return 0, task.ExitStatus, true
	}
	return 0, "", false
}

// IsNotFound reports whether err says the guest does not exist. Proxmox
// answers a read of a missing CT with 500 "Configuration file
// 'nodes/pve/lxc/100.conf' does not exist", never 404; a task on a missing
// CT fails with the same text. A 404 (from a reverse proxy in front of
// pveproxy, say) says nothing about the guest and is not recognised.
func IsNotFound(err error) bool {
	_, text, ok := errorText(err)
	return ok && notFoundPattern.MatchString(text)
}

// IsLocked reports whether err is Proxmox refusing because the guest is
// locked ("CT is locked (backup)"), and returns the lock.
func IsLocked(err error) (lock string, ok bool) {
	_, text, isProxmox := errorText(err)
	if !isProxmox {
		return "", false
	}
	if m := lockPattern.FindStringSubmatch(text); m != nil {
		return m[1], true
	}
	return "", false
}

// IsDigestMismatch reports whether a config write was refused because the
// config changed since its digest was read (a lost update was prevented).
func IsDigestMismatch(err error) bool {
	_, text, ok := errorText(err)
	return ok && strings.Contains(text, "detected modified configuration")
}

// IsPermissionDenied reports whether err is a 403, or a task that failed a
// permission check.
func IsPermissionDenied(err error) bool {
	status, text, ok := errorText(err)
	return ok && (status == 403 || strings.Contains(text, "Permission check failed"))
}
