package pvesim

// The /_sim/ admin API over HTTP (only with Options.EnableAdmin).

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// serveAdmin is the /_sim/ admin API (only with Options.EnableAdmin):
//
//	GET  /_sim/counters
//	POST /_sim/fail       {"method","path","n","status","message","after"}
//	                      (after: the request takes effect first; status 0
//	                      with after drops the connection)
//	POST /_sim/fail-task  {"type","id","exitstatus"}
//	POST /_sim/fill-storage {"storage","full"} (full defaults to true)
//	POST /_sim/hold       {"method","path"}  → {"data":{"id":N}}
//	GET  /_sim/hold/N     → {"data":{"reached":0|1}}
//	POST /_sim/release    {"id":N}
//	POST /_sim/storage    {"storage":"usb","type":"dir","path":"/mnt/usb","content":"backup","is_mountpoint":"yes"}
//	POST /_sim/mount      {"path":"/mnt/usb","mounted":true}
//	GET  /_sim/settings   → {"data":{"config_lock_timeout":"10s",...}}
//	POST /_sim/settings   {"config_lock_timeout":"300ms","vzdump_lockwait_minute":"1ms"}
//	                      (Go durations; "" or absent: Proxmox's value)
//
// Every admin request needs one of the simulator's API tokens in the usual
// "Authorization: PVEAPIToken=..." header, and its Host (and Origin, when
// sent) must name the loopback address the simulator serves, so that a
// web page in the operator's browser cannot inject faults.
func (s *Sim) serveAdmin(w http.ResponseWriter, hr *http.Request) {
	if err := s.checkAdminOrigin(hr); err != nil {
		writeError(w, &apiError{status: 403, msg: err.Error()})
		return
	}
	if _, err := s.authenticate(hr); err != nil {
		writeError(w, err)
		return
	}
	var in adminRequest
	reply := func(status int, data any) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	// done answers 400 with err, or 200.
	done := func(err error) {
		if err != nil {
			reply(400, err.Error())
			return
		}
		reply(200, nil)
	}
	path := strings.TrimPrefix(hr.URL.Path, "/_sim/")
	if hr.Method == http.MethodPost && !ownBody[path] {
		if err := json.NewDecoder(hr.Body).Decode(&in); err != nil {
			reply(400, "bad JSON body: "+err.Error())
			return
		}
	}
	post := hr.Method == http.MethodPost
	switch {
	case hr.Method == http.MethodGet && path == "counters":
		reply(200, s.Counters())
	case post && path == "fail":
		if in.N == 0 {
			in.N = 1
		}
		done(s.failNth(in.Method, in.Path, in.N, in.Status, in.Message, in.After))
	case post && path == "fail-task":
		if !taskTypes[in.Type] || in.ExitStatus == "" {
			reply(400, fmt.Sprintf("want a task type the simulator runs and an exit status, got type %q exitstatus %q", in.Type, in.ExitStatus))
			return
		}
		id := ""
		if in.ID != nil {
			id = fmt.Sprint(in.ID)
		}
		s.FailTask(in.Type, id, in.ExitStatus)
		reply(200, nil)
	case path == "settings":
		s.serveSettings(hr, reply)
	case post && path == "storage":
		var spec StorageSpec
		if err := json.NewDecoder(hr.Body).Decode(&spec); err != nil {
			reply(400, "bad JSON body: "+err.Error())
			return
		}
		done(s.AddStorage(spec))
	case post && path == "mount":
		var m struct {
			Path    string `json:"path"`
			Mounted *bool  `json:"mounted"`
		}
		if err := json.NewDecoder(hr.Body).Decode(&m); err != nil {
			reply(400, "bad JSON body: "+err.Error())
			return
		}
		done(s.SetMounted(m.Path, m.Mounted == nil || *m.Mounted))
	case post && path == "fill-storage":
		done(s.FillStorage(in.Storage, in.Full == nil || *in.Full))
	case post && path == "hold", hr.Method == http.MethodGet && strings.HasPrefix(path, "hold/"), post && path == "release":
		s.serveHold(hr.Method, path, in, reply)
	default:
		reply(404, "unknown admin method")
	}
}

// adminRequest is the JSON body of the admin endpoints that take one.
type adminRequest struct {
	Method     string `json:"method"`
	Path       string `json:"path"`
	N          int    `json:"n"`
	Status     int    `json:"status"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	ID         any    `json:"id"`
	ExitStatus string `json:"exitstatus"`
	After      bool   `json:"after"`
	Storage    string `json:"storage"`
	Full       *bool  `json:"full"`
}

// serveHold holds the answer to a request (POST hold), says whether a
// hold was reached (GET hold/N) and releases one (POST release).
func (s *Sim) serveHold(method, path string, in adminRequest, reply func(int, any)) {
	if method == http.MethodPost && path == "hold" {
		h, err := s.Hold(in.Method, in.Path)
		if err != nil {
			reply(400, err.Error())
			return
		}
		reply(200, map[string]any{"id": h.id})
		return
	}
	id := adminID(in.ID)
	if method == http.MethodGet {
		id, _ = strconv.Atoi(strings.TrimPrefix(path, "hold/"))
	}
	s.faults.mu.Lock()
	h := s.faults.holds[id]
	s.faults.mu.Unlock()
	if h == nil {
		reply(404, "no such hold")
		return
	}
	if method == http.MethodPost {
		h.Release()
		reply(200, nil)
		return
	}
	reached := 0
	select {
	case <-h.reached:
		reached = 1
	default:
	}
	reply(200, map[string]any{"reached": reached})
}

// adminID reads an id given as a JSON number or string.
func adminID(v any) int {
	switch v := v.(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// checkAdminOrigin refuses an admin request whose Host or Origin is not a
// loopback address, or not the port the simulator listens on.
func (s *Sim) checkAdminOrigin(hr *http.Request) error {
	s.srvMu.Lock()
	var port string
	if s.ln != nil {
		_, port, _ = net.SplitHostPort(s.ln.Addr().String())
	}
	s.srvMu.Unlock()
	ok := func(hostport string) bool {
		host, p, err := net.SplitHostPort(hostport)
		if err != nil {
			host, p = hostport, ""
		}
		if port != "" && p != port {
			return false
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		return ip != nil && ip.IsLoopback()
	}
	if !ok(hr.Host) {
		return fmt.Errorf("admin requests must name the simulator's loopback address, not host %q", hr.Host)
	}
	if o := hr.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !ok(u.Host) {
			return fmt.Errorf("admin requests from origin %q are refused", o)
		}
	}
	return nil
}

// ownBody are the admin methods that decode their body themselves.
var ownBody = map[string]bool{"settings": true, "storage": true, "mount": true}

// serveSettings is GET and POST /_sim/settings: the run-time settings as
// Go durations, "" for Proxmox's own value.
func (s *Sim) serveSettings(hr *http.Request, reply func(int, any)) {
	show := func(set Settings) map[string]string {
		out := map[string]string{"config_lock_timeout": "", "vzdump_lockwait_minute": ""}
		if set.ConfigLockTimeout > 0 {
			out["config_lock_timeout"] = set.ConfigLockTimeout.String()
		}
		if set.VzdumpLockwaitMinute > 0 {
			out["vzdump_lockwait_minute"] = set.VzdumpLockwaitMinute.String()
		}
		return out
	}
	switch hr.Method {
	case http.MethodGet:
		reply(200, show(s.Settings()))
	case http.MethodPost:
		var in map[string]string
		if err := json.NewDecoder(hr.Body).Decode(&in); err != nil {
			reply(400, "bad JSON body: "+err.Error())
			return
		}
		var set Settings
		fields := map[string]*time.Duration{"config_lock_timeout": &set.ConfigLockTimeout, "vzdump_lockwait_minute": &set.VzdumpLockwaitMinute}
		for k, v := range in {
			dst, ok := fields[k]
			if !ok {
				reply(400, fmt.Sprintf("unknown setting %q", k))
				return
			}
			if v == "" {
				continue
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				reply(400, fmt.Sprintf("setting %s: want a Go duration such as 300ms, got %q", k, v))
				return
			}
			*dst = d
		}
		if err := s.SetSettings(set); err != nil {
			reply(500, err.Error())
			return
		}
		reply(200, show(set))
	default:
		reply(404, "unknown admin method")
	}
}
