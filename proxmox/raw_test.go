package proxmox

import (
	"context"
	"errors"
	"net/url"
	"testing"
)

// Raw sends what it is given and returns the data and total as they came;
// refusals are the usual typed errors; a path that is not an API path is
// never sent.
func TestRaw(t *testing.T) {
	s := newPVEServer(t, func(r recorded) reply {
		switch {
		case r.Method == "GET" && r.Path == "/nodes/pve/tasks/UPID:x/log":
			return ok(`{"data":{"n":1,"t":"unable to open file - No such file or directory"},"total":1}`)
		case r.Method == "PUT" && r.Form.Get("rootfs") == "local-lvm:6":
			return ok(`{"data":null}`)
		}
		return reply{Status: 403, Reason: "Permission check failed (/, Sys.Modify)", Body: `{"data":null}`}
	})
	c := newTestClient(t, s)
	ctx := context.Background()
	a, err := c.Raw(ctx, "GET", "/nodes/pve/tasks/UPID:x/log", nil)
	if err != nil || string(a.Data) != `{"n":1,"t":"unable to open file - No such file or directory"}` || a.Total == nil || *a.Total != 1 {
		t.Errorf("log: %s %v %v", a.Data, a.Total, err)
	}
	if _, err := c.Raw(ctx, "PUT", "/nodes/pve/lxc/100/config", url.Values{"rootfs": {"local-lvm:6"}}); err != nil {
		t.Errorf("rootfs through the config: %v", err)
	}
	_, err = c.Raw(ctx, "POST", "/nodes/pve/vzdump", url.Values{"bwlimit": {"1"}})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Privilege != "Sys.Modify" || apiErr.ACLPath != "/" {
		t.Errorf("refusal: %v", err)
	}
	before := len(s.Requests())
	for _, bad := range []struct{ method, path string }{{"PATCH", "/version"}, {"GET", "version"}, {"GET", "/nodes/../x"}, {"GET", "/version?x=1"}} {
		if _, err := c.Raw(ctx, bad.method, bad.path, nil); err == nil {
			t.Errorf("%s %s was accepted", bad.method, bad.path)
		}
	}
	if len(s.Requests()) != before {
		t.Error("a refused raw call was sent")
	}
}
