package pvesim_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// rawAPI does plain HTTP requests against a running simulator, the way a
// minimal client would: token header, form-encoded bodies, pinned TLS.
type rawAPI struct {
	t      testing.TB
	base   string
	token  string
	hc     *http.Client
	sim    *pvesim.Sim
	fprint string
}

// startSim runs a simulator on a loopback port with TLS and returns a raw
// client using the full-privilege token.
func startSim(t *testing.T, opts pvesim.Options) *rawAPI {
	t.Helper()
	if opts.TaskDuration == 0 {
		opts.TaskDuration = 20 * time.Millisecond
	}
	s, err := pvesim.New(opts)
	if err != nil {
		t.Fatalf("new simulator: %v", err)
	}
	endpoint, err := s.Start("127.0.0.1:0", true)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return newRawAPI(t, s, endpoint, s.Token("converge"))
}

func newRawAPI(t testing.TB, s *pvesim.Sim, endpoint, token string) *rawAPI {
	want := s.Fingerprint()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // pinned below, like the client's fingerprint mode
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sum := sha256.Sum256(raw[0])
			var parts []string
			for _, b := range sum {
				parts = append(parts, fmt.Sprintf("%02X", b))
			}
			if got := strings.Join(parts, ":"); got != want {
				return fmt.Errorf("fingerprint %s, want %s", got, want)
			}
			return nil
		},
	}}}
	return &rawAPI{t: t, base: endpoint + "/api2/json", token: token, hc: hc, sim: s, fprint: want}
}

// as returns a copy of the client that authenticates with another token.
func (a *rawAPI) as(token string) *rawAPI {
	c := *a
	c.token = token
	return &c
}

// response is one answer: the status line and the decoded body.
type response struct {
	Code    int
	Status  string // "500 CT is locked (backup)"
	Body    map[string]any
	RawBody string
	Header  http.Header
}

func (r response) data() any { return r.Body["data"] }

func (r response) dataMap(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.Body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is %T (%s), want an object", r.Body["data"], r.RawBody)
	}
	return m
}

func (r response) dataList(t testing.TB) []map[string]any {
	t.Helper()
	l, ok := r.Body["data"].([]any)
	if !ok {
		t.Fatalf("data is %T (%s), want a list", r.Body["data"], r.RawBody)
	}
	out := make([]map[string]any, len(l))
	for i, x := range l {
		out[i] = x.(map[string]any)
	}
	return out
}

func (a *rawAPI) do(method, path string, params url.Values) response {
	a.t.Helper()
	u := a.base + path
	var body io.Reader
	if method == "GET" || method == "DELETE" {
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
	} else if params != nil {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "PVEAPIToken="+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := response{Code: resp.StatusCode, Status: resp.Status, RawBody: string(b), Header: resp.Header}
	if len(b) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&r.Body); err != nil {
			a.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
		}
	}
	return r
}

// ok does a request that must succeed and returns its data.
func (a *rawAPI) ok(method, path string, params url.Values) response {
	a.t.Helper()
	r := a.do(method, path, params)
	if r.Code != 200 {
		a.t.Fatalf("%s %s: %s (%s)", method, path, r.Status, r.RawBody)
	}
	return r
}

// task starts an async call, checks the UPID and waits for the task.
// It returns the UPID and the final status.
func (a *rawAPI) task(method, path string, params url.Values) (string, map[string]any) {
	a.t.Helper()
	r := a.ok(method, path, params)
	upid, ok := r.data().(string)
	if !ok {
		a.t.Fatalf("%s %s: data %v is not a UPID", method, path, r.data())
	}
	if _, err := proxmox.ParseUPID(upid); err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return upid, a.wait(upid)
}

func (a *rawAPI) wait(upid string) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st := a.ok("GET", "/nodes/pve/tasks/"+url.PathEscape(upid)+"/status", nil).dataMap(a.t)
		if st["status"] == "stopped" {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.t.Fatalf("task %s did not finish", upid)
	return nil
}

func (a *rawAPI) config(vmid int) map[string]any {
	a.t.Helper()
	return a.ok("GET", fmt.Sprintf("/nodes/pve/lxc/%d/config", vmid), nil).dataMap(a.t)
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func statePath(t *testing.T) string { return filepath.Join(t.TempDir(), "host.json") }

// wantError checks a refused request's status line and 8.4 body.
func wantError(t *testing.T, r response, code int, msg string) {
	t.Helper()
	if r.Status != fmt.Sprintf("%d %s", code, msg) {
		t.Fatalf("status line %q, want %q (body %s)", r.Status, fmt.Sprintf("%d %s", code, msg), r.RawBody)
	}
	if code == 401 {
		if r.RawBody != "" {
			t.Fatalf("401 body %q, want empty", r.RawBody)
		}
		return
	}
	if r.Body["message"] != msg+"\n" {
		t.Fatalf("message %q, want %q", r.Body["message"], msg+"\n")
	}
	if d, ok := r.Body["data"]; !ok || d != nil {
		t.Fatalf("data %v, want null", d)
	}
}

// doBody sends params as a form body whatever the method (to test
// Proxmox's refusal of a DELETE with content).
func (a *rawAPI) doBody(method, path string, params url.Values) response {
	a.t.Helper()
	return a.send(method, a.base+path, "application/x-www-form-urlencoded", params.Encode())
}

// send sends body to url with the client's token and decodes a JSON
// answer, if any.
func (a *rawAPI) send(method, url, contentType, body string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "PVEAPIToken="+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{Code: resp.StatusCode, Status: resp.Status, RawBody: string(b), Header: resp.Header}
	if len(b) > 0 {
		json.Unmarshal(b, &r.Body)
	}
	return r
}

// taskLog returns a task's whole log, one line per entry, each ending in
// a newline.
func (a *rawAPI) taskLog(upid string) string {
	a.t.Helper()
	var b strings.Builder
	for _, e := range a.ok("GET", "/nodes/pve/tasks/"+url.PathEscape(upid)+"/log", form("limit", "0")).dataList(a.t) {
		b.WriteString(fmt.Sprint(e["t"]) + "\n")
	}
	return b.String()
}

// adminPost posts a JSON body to a /_sim/ admin URL with the client's
// token.
func (a *rawAPI) adminPost(url, body string) response {
	a.t.Helper()
	return a.send("POST", url, "application/json", body)
}
