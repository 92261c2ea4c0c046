package pvesim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// rootUser is the user of what runs as root on the node (pct).
const rootUser = "root@pam"

// Pct plays the pct commands felhom-converge runs as root through
// proxmox.Privileged: "create VMID OSTEMPLATE --key value ..." and
// "set VMID --key value ...", pct's front ends of the API's create and
// config update, made as root@pam: what no API token may set (features
// other than nesting, bind mounts) is allowed, and every format check
// still applies. A create waits for its task, as pct does. It returns
// what pct prints and its exit status: 0, or 255 with the error on
// stderr, as pct's command failure.
func (s *Sim) Pct(ctx context.Context, args []string) (stdout, stderr string, exit int) {
	fail := func(format string, a ...any) (string, string, int) {
		return "", fmt.Sprintf(format, a...) + "\n", 255
	}
	if len(args) < 2 || (args[0] != "create" && args[0] != "set") {
		return fail("simulated pct: only 'create VMID OSTEMPLATE' and 'set VMID' are played")
	}
	params := map[string]string{"vmid": args[1]}
	method, path, rest := "POST", "/nodes/"+s.Node()+"/lxc", args[2:]
	if args[0] == "create" {
		if len(args) < 3 {
			return fail("400 not enough arguments\npct create <vmid> <ostemplate> [OPTIONS]")
		}
		params["ostemplate"], rest = args[2], args[3:]
	} else {
		method, path = "PUT", "/nodes/"+s.Node()+"/lxc/"+args[1]+"/config"
	}
	for len(rest) > 0 {
		k, ok := strings.CutPrefix(rest[0], "--")
		if !ok || len(rest) < 2 {
			return fail("400 unable to parse option %q", rest[0])
		}
		params[k], rest = rest[1], rest[2:]
	}
	rt, vars := matchRoute(method, path)
	if rt == nil {
		return fail("simulated pct: no route for %s %s", method, path)
	}
	for k, v := range vars {
		params[k] = v
	}
	r := &request{s: s, route: rt, vars: vars, params: params, tokenID: rootUser, root: true}
	data, err := s.pctCall(ctx, r)
	if err != nil {
		return fail("%s", pctError(err))
	}
	upid, _ := data.(string)
	if upid == "" {
		return "", "", 0 // a config update: synchronous
	}
	return s.pctWait(ctx, upid)
}

// pctCall makes the call, waiting for the guest's config lock as the API
// does.
func (s *Sim) pctCall(ctx context.Context, r *request) (any, error) {
	var deadline time.Time
	for {
		data, err := s.handleOnce(r)
		var busy *flockBusy
		if !errors.As(err, &busy) {
			return data, err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(busy.bound)
		}
		if !time.Now().Before(deadline) {
			return nil, busy.err
		}
		select {
		case <-time.After(lockPoll):
		case <-ctx.Done():
			return nil, busy.err
		}
	}
}

// pctWait waits for a task pct started, printing its log, as pct's
// foreground worker does.
func (s *Sim) pctWait(ctx context.Context, upid string) (string, string, int) {
	for {
		s.mu.Lock()
		unlock, err := s.lockFileLocked()
		if err == nil {
			err = s.refreshLocked()
			unlock()
		}
		t := s.st.task(upid)
		var status, log string
		if t != nil && t.Status != "running" {
			status, log = t.ExitStatus, strings.Join(t.Log, "\n")+"\n"
		}
		s.mu.Unlock()
		switch {
		case err != nil:
			return "", err.Error() + "\n", 255
		case t == nil:
			return "", "task " + upid + " vanished\n", 255
		case status == "OK" || strings.HasPrefix(status, "WARNINGS: "):
			return log, "", 0
		case status != "":
			return log, status + "\n", 255
		}
		select {
		case <-time.After(lockPoll):
		case <-ctx.Done():
			return "", "interrupted: " + strconv.Quote(ctx.Err().Error()) + "\n", 255
		}
	}
}

// pctError is an API error as pct prints it: a parameter error names each
// parameter and why, one a line.
func pctError(err error) string {
	var ae *apiError
	if !errors.As(err, &ae) || len(ae.errs) == 0 {
		return errText(err)
	}
	lines := []string{fmt.Sprintf("%d %s", ae.status, ae.msg)}
	for _, k := range sortedKeys(ae.errs) {
		lines = append(lines, k+": "+ae.errs[k])
	}
	return strings.Join(lines, "\n")
}
