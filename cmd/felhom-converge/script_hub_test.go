package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/rogpeppe/go-internal/testscript"
)

// hubScriptCmds are the script commands of the hub puller's tests:
//
//	hub start DIR [plain]   serve the files under DIR over HTTPS on loopback
//	                        (plain: over HTTP) and set HUB_URL (the server's
//	                        base URL), HUB_FINGERPRINT (its certificate's
//	                        SHA-256) and HUB_CA (a PEM file of its certificate)
//	hub status CODE         answer every request with CODE from now on
//	                        (0: serve the files again)
//	hub token SECRET        answer 401 to requests without
//	                        "Authorization: Bearer SECRET"
//	hub stop                shut the server down (the hub is then "down")
//	hub requests            print one line per request served so far, as
//	                        "GET /path if-none-match=ETAG|- auth=bearer|-
//	                        -> STATUS", and forget them
//	hub pad FILE BYTES      append HCL comment lines to FILE until it is
//	                        BYTES long
//	exits CODE PROG ARGS... run PROG like exec and fail unless it exits
//	                        with CODE (its stdout and stderr can be checked
//	                        afterwards, as after exec)
//
// The server sends a strong ETag (the SHA-256 of the file) and answers
// If-None-Match with 304 Not Modified, as a hub behind any ordinary web
// server does.
func hubScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"hub":   cmdHub,
		"exits": cmdExits,
	}
}

// hubServers holds each script's server; scripts run in parallel.
var hubServers sync.Map // *testscript.TestScript -> *scriptHub

type scriptHub struct {
	srv *httptest.Server
	dir string

	mu       sync.Mutex
	status   int
	token    string
	requests []string
}

func cmdHub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: hub start DIR [plain] | status CODE | token SECRET | stop | requests | pad FILE BYTES")
	}
	current := func() *scriptHub {
		h, ok := hubServers.Load(ts)
		if !ok {
			ts.Fatalf("hub %s: no hub started", args[0])
		}
		return h.(*scriptHub)
	}
	switch {
	case args[0] == "start" && (len(args) == 2 || len(args) == 3 && args[2] == "plain"):
		if _, ok := hubServers.Load(ts); ok {
			ts.Fatalf("hub start: a hub is already running")
		}
		h := &scriptHub{dir: ts.MkAbs(args[1])}
		h.srv = httptest.NewUnstartedServer(h)
		// Refused handshakes are what some scripts test; not worth a log line.
		h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		if len(args) == 3 {
			h.srv.Start()
		} else {
			h.srv.StartTLS()
			cert := h.srv.Certificate()
			ca := ts.MkAbs("hub-ca.pem")
			ts.Check(os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644))
			ts.Setenv("HUB_FINGERPRINT", proxmox.Fingerprint(cert.Raw))
			ts.Setenv("HUB_CA", ca)
		}
		hubServers.Store(ts, h)
		ts.Defer(func() {
			h.srv.Close()
			hubServers.Delete(ts)
		})
		ts.Setenv("HUB_URL", h.srv.URL)
	case args[0] == "status" && len(args) == 2:
		code, err := strconv.Atoi(args[1])
		if err != nil || code != 0 && (code < 200 || code > 599) {
			ts.Fatalf("hub status: %q is not an HTTP status", args[1])
		}
		h := current()
		h.mu.Lock()
		h.status = code
		h.mu.Unlock()
	case args[0] == "token" && len(args) == 2:
		h := current()
		h.mu.Lock()
		h.token = args[1]
		h.mu.Unlock()
	case args[0] == "stop" && len(args) == 1:
		current().srv.Close()
	case args[0] == "requests" && len(args) == 1:
		h := current()
		h.mu.Lock()
		for _, r := range h.requests {
			fmt.Fprintln(ts.Stdout(), r)
		}
		h.requests = nil
		h.mu.Unlock()
	case args[0] == "pad" && len(args) == 3:
		size, err := strconv.Atoi(args[2])
		if err != nil || size < 0 {
			ts.Fatalf("hub pad: %q is not a size", args[2])
		}
		name := ts.MkAbs(args[1])
		b, err := os.ReadFile(name)
		ts.Check(err)
		line := "# " + strings.Repeat("padding ", 8) + "\n"
		var sb strings.Builder
		sb.Write(b)
		for sb.Len()+len(line) <= size {
			sb.WriteString(line)
		}
		sb.WriteString(strings.Repeat("#", max(0, size-sb.Len())))
		ts.Check(os.WriteFile(name, []byte(sb.String()), 0o644))
	default:
		ts.Fatalf("usage: hub start DIR [plain] | status CODE | token SECRET | stop | requests | pad FILE BYTES")
	}
}

func (h *scriptHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	status, token := h.status, h.token
	h.mu.Unlock()
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token && status == 0 {
		status = http.StatusUnauthorized
	}
	inm := r.Header.Get("If-None-Match")
	auth := "-"
	if a := r.Header.Get("Authorization"); a != "" {
		auth = strings.ToLower(strings.Fields(a)[0])
	}
	code := h.serve(w, r, status, inm)
	h.mu.Lock()
	h.requests = append(h.requests, fmt.Sprintf("%s %s if-none-match=%s auth=%s -> %d", r.Method, r.URL.Path, orDash(inm), auth, code))
	h.mu.Unlock()
}

func (h *scriptHub) serve(w http.ResponseWriter, r *http.Request, status int, inm string) int {
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return status
	}
	name := filepath.Join(h.dir, filepath.FromSlash(filepath.Clean("/"+r.URL.Path)))
	b, err := os.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	return http.StatusOK
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %q is not an exit code", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
