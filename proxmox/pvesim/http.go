package pvesim

// The HTTP side, shaped like pveproxy (pve-http-server AnyEvent.pm and
// pve-manager PVE/HTTPServer.pm): route lookup (501), token auth (401),
// the declarative permission check (403), schema validation (400), then
// the handler. Errors carry Proxmox's message in the status line's reason
// phrase, which net/http cannot write, so error responses are written by
// hand on the hijacked connection.

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const apiPrefix = "/api2/json"

// apiError is a refused request: status, message (the reason phrase's
// source) and, for 400, the per-parameter errors.
type apiError struct {
	status int
	msg    string
	errs   map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// failf is a handler's die: HTTP 500 with the message.
func failf(format string, args ...any) error {
	return &apiError{status: 500, msg: fmt.Sprintf(format, args...)}
}

// paramError is raise_param_exc: HTTP 400 with per-parameter errors.
func paramError(errs map[string]string) error {
	return &apiError{status: 400, msg: "Parameter verification failed.", errs: errs}
}

func param1Error(name, format string, args ...any) error {
	return paramError(map[string]string{name: fmt.Sprintf(format, args...)})
}

// permError is raise_perm_exc with "(path, privs)".
func permError(path string, privs ...string) error {
	return &apiError{status: 403, msg: fmt.Sprintf("Permission check failed (%s, %s)", path, strings.Join(privs, "|"))}
}

// permErrorText is a permission failure with a custom explanation.
func permErrorText(text string) error {
	return &apiError{status: 403, msg: fmt.Sprintf("Permission check failed (%s)", text)}
}

// request is one API call on its way through the pipeline.
type request struct {
	s       *Sim
	route   *route
	vars    map[string]string // path parameters
	params  map[string]string // path + query + body, validated
	tokenID string            // "felhom@pve!converge", or root@pam for pct
	// root: the call is root's (pct on the node), not a token's: every
	// privilege, and what Proxmox allows only root@pam.
	root  bool
	now   time.Time
	total *int // set by handlers whose answer carries "total"
}

func (r *request) vmid() int {
	v, ok := r.vars["vmid"]
	if !ok {
		v = r.params["vmid"]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// Handler serves the API under /api2/json (and /_sim/ when EnableAdmin is
// set). Error responses need a connection that can be hijacked to carry
// Proxmox's reason phrase; elsewhere they fall back to the standard one.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Sim) serveHTTP(w http.ResponseWriter, hr *http.Request) {
	if s.opts.EnableAdmin && strings.HasPrefix(hr.URL.Path, "/_sim/") {
		s.serveAdmin(w, hr)
		return
	}
	if s.sem != nil {
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		case <-hr.Context().Done():
			return
		}
	}
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	data, total, err := s.dispatch(hr)
	if errors.Is(err, errDropConnection) {
		dropConnection(w)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	body := map[string]any{"data": data}
	if total != nil {
		body["total"] = *total
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	setCommonHeaders(h)
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func setCommonHeaders(h http.Header) {
	now := time.Now().UTC().Format(http.TimeFormat)
	h.Set("Cache-Control", "max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", now)
	h.Set("Server", "pve-api-daemon/3.0")
}

// dispatch runs the pipeline and returns the data of a success.
func (s *Sim) dispatch(hr *http.Request) (any, *int, error) {
	// Split the path as sent, so that an escaped "/" inside a segment (a
	// volume id "local:backup%2Fvzdump-...") stays in its segment.
	path, ok := strings.CutPrefix(hr.URL.EscapedPath(), apiPrefix)
	if !ok {
		return nil, nil, &apiError{status: 501, msg: fmt.Sprintf("Method '%s %s' not implemented", hr.Method, hr.URL.Path)}
	}
	rt, vars := matchRoute(hr.Method, path)
	if rt == nil {
		path, _ = strings.CutPrefix(hr.URL.Path, apiPrefix)
	}
	if rt == nil {
		s.faults.count(hr.Method + " " + "(unknown)")
		return nil, nil, &apiError{status: 501, msg: fmt.Sprintf("Method '%s %s' not implemented", hr.Method, path)}
	}
	key := rt.method + " " + rt.tmpl
	s.faults.count(key)
	after, fault := s.faults.failNth(key)
	if fault != nil && !after {
		return nil, nil, fault
	}
	params, err := readParams(hr, vars)
	if err != nil {
		return nil, nil, err
	}
	tokenID, err := s.authenticate(hr)
	if err != nil {
		if s.opts.AuthFailureDelay > 0 {
			time.Sleep(s.opts.AuthFailureDelay)
		}
		return nil, nil, err
	}
	r := &request{s: s, route: rt, vars: vars, params: params, tokenID: tokenID}
	var deadline time.Time
	for {
		data, err := s.handleOnce(r)
		var busy *flockBusy
		if !errors.As(err, &busy) {
			if err != nil {
				return nil, nil, err
			}
			s.faults.holdIfMatched(key)
			if fault != nil {
				return nil, nil, fault // it took effect; the answer is lost
			}
			return data, r.total, nil
		}
		// lock_config: wait for the task holding the guest's flock.
		if deadline.IsZero() {
			deadline = time.Now().Add(busy.bound)
		}
		if !time.Now().Before(deadline) {
			return nil, nil, busy.err
		}
		select {
		case <-time.After(lockPoll):
		case <-hr.Context().Done():
			return nil, nil, busy.err
		}
	}
}

// handleOnce runs the request against the current state, holding the
// simulator's lock and the state file's.
func (s *Sim) handleOnce(r *request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.now = s.clock()
	unlock, err := s.lockFileLocked()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	return s.handleLocked(r)
}

func (s *Sim) handleLocked(r *request) (any, error) {
	if n, ok := r.vars["node"]; ok && n != s.st.Node {
		return nil, failf("hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known", n, n)
	}
	if r.route.perm != nil {
		if err := r.route.perm(r); err != nil {
			return nil, err
		}
	}
	if err := r.route.schema.validate(r.params, s.st.pve9()); err != nil {
		return nil, err
	}
	if r.route.flock != nil {
		if err := r.route.flock(r); err != nil {
			return nil, err
		}
	}
	data, err := r.route.handle(r)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// readParams merges path, body and query parameters the way pveproxy's
// extract_params does: the query wins over the body, and the body may not
// contradict a path parameter.
func readParams(hr *http.Request, vars map[string]string) (map[string]string, error) {
	params := map[string]string{}
	body, err := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	if err != nil {
		return nil, failf("unable to read request body: %v", err)
	}
	switch hr.Method {
	case http.MethodGet, http.MethodDelete:
		if len(body) > 0 {
			return nil, &apiError{status: 501, msg: fmt.Sprintf("Unexpected content for method '%s'", hr.Method)}
		}
	default:
		ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type"))
		switch {
		case len(bytes.TrimSpace(body)) == 0:
		case ct == "application/json":
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				return nil, &apiError{status: 400, msg: "unable to parse JSON body"}
			}
			for k, v := range m {
				switch v := v.(type) {
				case string:
					params[k] = v
				case bool:
					params[k] = map[bool]string{true: "1", false: "0"}[v]
				case json.Number:
					params[k] = v.String()
				case nil:
				default:
					b, _ := json.Marshal(v)
					params[k] = string(b)
				}
			}
		default:
			q, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, &apiError{status: 400, msg: "unable to parse request body"}
			}
			for k, v := range q {
				params[k] = v[0]
			}
		}
	}
	for k, v := range hr.URL.Query() {
		params[k] = v[0]
	}
	for k, v := range vars {
		if old, ok := params[k]; ok && old != v {
			return nil, param1Error(k, "duplicate parameter (already defined in URI) with conflicting values!")
		}
		params[k] = v
	}
	return params, nil
}

// authenticate checks "Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET"
// and returns the token id. The reasons are PVE 8.4.1's.
func (s *Sim) authenticate(hr *http.Request) (string, error) {
	h := hr.Header.Get("Authorization")
	v, ok := strings.CutPrefix(h, "PVEAPIToken=")
	if !ok {
		v, ok = strings.CutPrefix(h, "PVEAPIToken ")
	}
	if !ok {
		return "", &apiError{status: 401, msg: "No ticket"}
	}
	v, _, _ = strings.Cut(v, ";")
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	i := strings.LastIndex(v, "=")
	if i < 0 {
		return "", &apiError{status: 401, msg: "invalid token value!"}
	}
	id, secret := v[:i], v[i+1:]
	userID, tokName, ok := strings.Cut(id, "!")
	if !ok || tokName == "" {
		return "", &apiError{status: 401, msg: "no tokenid specified"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Users[userID]; !ok {
		return "", &apiError{status: 401, msg: fmt.Sprintf("no such user ('%s')", userID)}
	}
	t, ok := s.st.Tokens[id]
	if !ok {
		return "", &apiError{status: 401, msg: fmt.Sprintf("no such token '%s' for user '%s'", tokName, userID)}
	}
	if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) != 1 {
		return "", &apiError{status: 401, msg: "invalid token value!"}
	}
	return id, nil
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http closes the connection, logging nothing
}

// writeError writes Proxmox's error response: the message's first line as
// the reason phrase, the 8.4 JSON body (with "message", and "errors" for
// 400), and an empty body for 401.
func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{status: 500, msg: err.Error()}
	}
	reason, _, _ := strings.Cut(e.msg, "\n")
	reason = strings.ReplaceAll(reason, "\r", " ")
	var body []byte
	if e.status != 401 {
		m := map[string]any{"data": nil, "message": strings.TrimSuffix(e.msg, "\n") + "\n"}
		if e.errs != nil {
			m["errors"] = e.errs
		}
		body, _ = json.Marshal(m)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		setCommonHeaders(w.Header())
		if body != nil {
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		}
		w.WriteHeader(e.status)
		w.Write(body)
		return
	}
	conn, buf, herr := hj.Hijack()
	if herr != nil {
		w.WriteHeader(e.status)
		return
	}
	defer conn.Close()
	h := http.Header{}
	setCommonHeaders(h)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Connection", "close")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if body != nil {
		h.Set("Content-Type", "application/json;charset=UTF-8")
	}
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", e.status, reason)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(buf, "%s: %s\r\n", k, h.Get(k))
	}
	buf.WriteString("\r\n")
	buf.Write(body)
	buf.Flush()
}
