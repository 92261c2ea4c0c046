package proxmox

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Refusals come back as *APIError with the text from the status line first
// and the 8.4 "message" second, in every shape pveproxy sends.
func TestAPIErrors(t *testing.T) {
	cases := []struct {
		name      string
		rep       reply
		status    int
		message   string
		params    map[string]string
		priv, acl string
		notFound  bool
		lock      string
		digest    bool
	}{
		{
			name:   "403 names the privilege (pre-8.4: reason phrase only)",
			rep:    reply{Status: 403, Reason: "Permission check failed (/vms/100, VM.Config.Memory)", Body: `{"data":null}`},
			status: 403, message: "Permission check failed (/vms/100, VM.Config.Memory)", priv: "VM.Config.Memory", acl: "/vms/100",
		},
		{
			name:   "403 with alternatives joined by |",
			rep:    reply{Status: 403, Reason: "Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CPU|VM.Config.Memory)", Body: `{"data":null,"message":"Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CPU|VM.Config.Memory)\n"}`},
			status: 403, message: "Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CPU|VM.Config.Memory)", priv: "VM.Config.Disk|VM.Config.CPU|VM.Config.Memory", acl: "/vms/100",
		},
		{
			name:   "403 custom text names no privilege",
			rep:    reply{Status: 403, Reason: "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)", Body: `{"data":null}`},
			status: 403, message: "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)",
		},
		{
			name:   "403 bare, from an or-check",
			rep:    reply{Status: 403, Reason: "Permission check failed", Body: `{"data":null}`},
			status: 403, message: "Permission check failed",
		},
		{
			name:   "400 param errors, captured PVE 7 body without message",
			rep:    reply{Status: 400, Reason: "Parameter verification failed.", Body: captured(t, "pve7_400_param_not_in_schema.json")},
			status: 400, message: "Parameter verification failed.",
			params: map[string]string{"overrule-shutdown": "property is not defined in schema and the schema does not allow additional properties"},
		},
		{
			name:   "400 captured PVE 8 body, errors before data",
			rep:    reply{Status: 400, Reason: "Parameter verification failed.", Body: captured(t, "pve8_cluster_nextid_400_exists.json")},
			status: 400, message: "Parameter verification failed.", params: map[string]string{"vmid": "VM 200 already exists"},
		},
		{
			name:   "400 in the 8.4 shape with message",
			rep:    reply{Status: 400, Reason: "Parameter verification failed.", Body: `{"data":null,"errors":{"memory":"type check ('integer') failed - got 'abc'"},"message":"Parameter verification failed.\n"}`},
			status: 400, message: "Parameter verification failed.", params: map[string]string{"memory": "type check ('integer') failed - got 'abc'"},
		},
		{
			name:   "401 has an empty body",
			rep:    reply{Status: 401, Reason: "Authentication failed!"},
			status: 401, message: "Authentication failed!",
		},
		{
			name:   "500 reason phrase only (captured PVE 7 body), locked",
			rep:    reply{Status: 500, Reason: "CT is locked (disk)", Body: captured(t, "pve7_500_ct_locked_disk_body.json")},
			status: 500, message: "CT is locked (disk)", lock: "disk",
		},
		{
			name:   "500 in the 8.4 shape",
			rep:    reply{Status: 500, Reason: "CT is locked (backup)", Body: `{"data":null,"message":"CT is locked (backup)\n"}`},
			status: 500, message: "CT is locked (backup)", lock: "backup",
		},
		{
			name:   "500 multi-line message: the body says more than the status line",
			rep:    reply{Status: 500, Reason: "unable to create CT 100 - no such storage", Body: `{"data":null,"message":"unable to create CT 100 - no such storage\nstorage 'x' does not exist\n"}`},
			status: 500, message: "unable to create CT 100 - no such storage\nstorage 'x' does not exist",
		},
		{
			name:   "500 missing guest is not a 404",
			rep:    reply{Status: 500, Reason: "Configuration file 'nodes/pve/lxc/100.conf' does not exist", Body: `{"data":null}`},
			status: 500, message: "Configuration file 'nodes/pve/lxc/100.conf' does not exist", notFound: true,
		},
		{
			name:   "8.4 shape behind a proxy that rewrote the reason phrase: the message names the lock",
			rep:    reply{Status: 500, Reason: "Internal Server Error", Body: `{"data":null,"message":"CT is locked (backup)\n"}`},
			status: 500, message: "CT is locked (backup)", lock: "backup",
		},
		{
			name:   "8.4 shape behind such a proxy: the 403's privilege comes from the message",
			rep:    reply{Status: 403, Reason: "Forbidden", Body: `{"data":null,"message":"Permission check failed (/vms/100, VM.Config.Memory)\n"}`},
			status: 403, message: "Permission check failed (/vms/100, VM.Config.Memory)", priv: "VM.Config.Memory", acl: "/vms/100",
		},
		{
			name:   "404 from a reverse proxy does not mean the guest is missing",
			rep:    reply{Status: 404, Reason: "Not Found", Body: `<html>not found</html>`},
			status: 404, message: "Not Found",
		},
		{
			name:   "500 stale digest",
			rep:    reply{Status: 500, Reason: "detected modified configuration - file changed by other user? Try again.", Body: `{"data":null}`},
			status: 500, message: "detected modified configuration - file changed by other user? Try again.", digest: true,
		},
		{
			name:   "595 with an empty reason: the body message is used",
			rep:    reply{Status: 595, Reason: " ", Body: `{"data":null,"message":"Connection refused\n"}`},
			status: 595, message: "Connection refused",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newPVEServer(t, func(recorded) reply { return tc.rep })
			c := newTestClient(t, s)
			c.attempts = 1
			err := c.SetConfig(context.Background(), 100, map[string]string{"memory": "1024"}, nil, "")
			var e *APIError
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *APIError", err, err)
			}
			if e.Status != tc.status || e.Message != tc.message || e.Privilege != tc.priv || e.ACLPath != tc.acl {
				t.Errorf("got status %d message %q priv %q acl %q", e.Status, e.Message, e.Privilege, e.ACLPath)
			}
			if e.Method != "PUT" || e.Path != "/nodes/pve/lxc/100/config" {
				t.Errorf("got %s %s", e.Method, e.Path)
			}
			if len(e.ParamErrors) != len(tc.params) {
				t.Errorf("param errors %v, want %v", e.ParamErrors, tc.params)
			}
			for k, v := range tc.params {
				if e.ParamErrors[k] != v {
					t.Errorf("param %s = %q, want %q", k, e.ParamErrors[k], v)
				}
				if !strings.Contains(err.Error(), k+": "+v) {
					t.Errorf("Error() %q does not show param %s", err, k)
				}
			}
			if IsNotFound(err) != tc.notFound {
				t.Errorf("IsNotFound = %v", !tc.notFound)
			}
			if lock, ok := IsLocked(err); lock != tc.lock || ok != (tc.lock != "") {
				t.Errorf("IsLocked = %q, %v", lock, ok)
			}
			if IsDigestMismatch(err) != tc.digest {
				t.Errorf("IsDigestMismatch = %v", !tc.digest)
			}
			if IsPermissionDenied(err) != (tc.status == 403) {
				t.Errorf("IsPermissionDenied = %v", !(tc.status == 403))
			}
		})
	}
}

// A 401 says little ("Authentication failed!"); the error says what to check.
func TestAPIError401SaysWhatToCheck(t *testing.T) {
	s := newPVEServer(t, func(recorded) reply { return reply{Status: 401, Reason: "Authentication failed!"} })
	c := newTestClient(t, s)
	_, err := c.Version(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401 Authentication failed!") || !strings.Contains(err.Error(), "API token was refused") {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("a 401 was asked %d times; it is not transient", n)
	}
}

// The predicates see through wrapping and ignore other errors.
func TestErrorPredicatesOnOtherErrors(t *testing.T) {
	wrapped := errors.Join(errors.New("context"), &TaskError{ExitStatus: "CT is locked (snapshot)"})
	if lock, ok := IsLocked(wrapped); !ok || lock != "snapshot" {
		t.Errorf("IsLocked(wrapped task error) = %q, %v", lock, ok)
	}
	plain := errors.New("CT is locked (backup)")
	if _, ok := IsLocked(plain); ok {
		t.Error("IsLocked matched an error that is not from Proxmox")
	}
	if IsNotFound(nil) || IsDigestMismatch(nil) || IsPermissionDenied(nil) {
		t.Error("a nil error matched a predicate")
	}
}
