package hub

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/schema"
)

const hubToken = "s3cr3t-hub-token-0123456789"

// A hub or a proxy that echoes the bearer token, in the reason phrase, the
// body or an ETag, never gets it printed or stored.
func TestEchoedSecretsAreRedacted(t *testing.T) {
	apiToken := "felhom@pve!converge=0b0e1c2a-aaaa-bbbb-cccc-0123456789ab"
	for name, h := range map[string]http.HandlerFunc{
		"reason phrase": func(w http.ResponseWriter, r *http.Request) {
			hijackWrite(t, w, "HTTP/1.1 403 Forbidden "+r.Header.Get("Authorization")+"\r\nContent-Length: 0\r\n\r\n")
		},
		"body": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "token "+r.Header.Get("Authorization")+" and "+apiToken, http.StatusUnauthorized)
		},
		"body, at the excerpt's edge": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, strings.Repeat("x", 190)+" token "+r.Header.Get("Authorization"), http.StatusUnauthorized)
		},
		"etag": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"`+hubToken+`"`)
			w.Write([]byte(good))
		},
	} {
		t.Run(name, func(t *testing.T) {
			url := serve(t, h)
			dest := filepath.Join(t.TempDir(), "host.hcl")
			res, err := pull(t, Options{URL: url, Token: config.NewSecret(hubToken), Secrets: []config.Secret{config.NewSecret(apiToken)}}, dest)
			for _, s := range []string{errString(err), res.ETag, readFile(t, StatePath(dest))} {
				if strings.Contains(s, hubToken) || strings.Contains(s, apiToken) || strings.Contains(s, hubToken[:12]) {
					t.Errorf("a secret got through: %q", s)
				}
			}
			if (name == "body" || name == "reason phrase") && !strings.Contains(errString(err), "[redacted]") {
				t.Errorf("err = %v, want the secret shown as [redacted]", err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// hijackWrite writes raw bytes as the whole answer and closes the
// connection.
func hijackWrite(t *testing.T, w http.ResponseWriter, raw string) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	buf.WriteString(raw)
	buf.Flush()
	conn.Close()
}

// ESC, C1 controls and bidi overrides from the hub reach no message.
func TestHubControlCharactersAreEscaped(t *testing.T) {
	nasty := "\x1b[2J\x1b]0;owned\a\u009b31m\u202eevil\u2066"
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reason" {
			hijackWrite(t, w, "HTTP/1.1 500 Oops"+nasty+"\r\nContent-Length: 0\r\n\r\n")
			return
		}
		http.Error(w, "bad "+nasty, http.StatusBadGateway)
	})
	for _, path := range []string{"/reason", "/body"} {
		dest := filepath.Join(t.TempDir(), "host.hcl")
		_, err := pull(t, Options{URL: url + path}, dest)
		fe := wantFetchError(t, err, HTTPStatus)
		for _, s := range []string{fe.Error(), readFile(t, StatePath(dest))} {
			if strings.ContainsAny(s, "\x1b\a\u009b\u202e\u2066") {
				t.Errorf("%s: unescaped control character in %q", path, s)
			}
		}
		if !strings.Contains(fe.Msg, `\x1b[2J`) || !strings.Contains(fe.Msg, `\u202eevil`) {
			t.Errorf("%s: msg = %q, want the characters escaped, not dropped", path, fe.Msg)
		}
	}
}

// An answer cut short never replaces the last good file: a short
// Content-Length, a chunked body without its end, a body delimited only by
// the connection's end over plain http, and over TLS a close without
// close_notify. A TLS close_notify ends a whole body.
func TestOnlyCompleteBodiesAreAccepted(t *testing.T) {
	valid := good + "# more\n"
	cut := map[string]string{
		"short content-length": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + good,
		"unfinished chunks":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(good),
		"close-delimited":      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + good,
	}
	for name, raw := range cut {
		t.Run(name, func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) { hijackWrite(t, w, raw) })
			dest := filepath.Join(t.TempDir(), "host.hcl")
			writeFile(t, dest, valid)
			_, err := pull(t, Options{URL: url}, dest)
			wantFetchError(t, err, Truncated)
			if readFile(t, dest) != valid {
				t.Error("a cut answer replaced the last good file")
			}
		})
	}
	for _, notify := range []bool{false, true} {
		url, fp := rawTLSHub(t, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"+good, notify)
		dest := filepath.Join(t.TempDir(), "host.hcl")
		writeFile(t, dest, valid)
		res, err := pull(t, Options{URL: url, Fingerprint: fp}, dest)
		if notify {
			if err != nil || res.Outcome != Updated || readFile(t, dest) != good {
				t.Errorf("with close_notify: %+v %v", res, err)
			}
			continue
		}
		wantFetchError(t, err, Truncated)
		if readFile(t, dest) != valid {
			t.Error("a TLS stream cut without close_notify replaced the last good file")
		}
	}
}

// chunk is s as one HTTP/1.1 chunk, without the last (empty) chunk.
func chunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

// rawTLSHub answers one TLS connection with raw (the whole HTTP answer)
// and closes it with a close_notify, or by closing the TCP connection
// under TLS. It returns the URL and the certificate's fingerprint.
func rawTLSHub(t *testing.T, raw string, closeNotify bool) (string, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil) // only for its certificate
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	fp := proxmox.Fingerprint(srv.Certificate().Raw)
	srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		raw0, err := ln.Accept()
		if err != nil {
			return
		}
		conn := tls.Server(raw0, &tls.Config{Certificates: []tls.Certificate{cert}})
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err == nil {
			req.Body.Close()
			conn.Write([]byte(raw))
		}
		if closeNotify {
			conn.Close()
		} else {
			raw0.Close()
		}
	}()
	return "https://" + ln.Addr().String() + "/host.hcl", fp
}

// A file refused by the load budget is a FetchError, recorded.
func TestLoadBudgetRefusalIsRecorded(t *testing.T) {
	var b strings.Builder
	b.WriteString(good + "locals {\n  x = [")
	for b.Len() < 500_000 { // within the token bound
		b.WriteString("1,")
	}
	b.WriteString("1]\n}\n")
	body := b.String()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
	dest := filepath.Join(t.TempDir(), "host.hcl")
	writeFile(t, dest, good)
	_, err := pull(t, Options{URL: url, Budget: schema.Budget{CPU: time.Hour, Wall: time.Millisecond, Heap: 1 << 40}}, dest)
	fe := wantFetchError(t, err, OverBudget)
	if !strings.Contains(fe.Msg, "went over its time budget") {
		t.Errorf("msg = %q", fe.Msg)
	}
	st, _ := ReadState(dest)
	if st.LastReason != OverBudget || st.LastError == "" {
		t.Errorf("state = %+v", st)
	}
	if readFile(t, dest) != good {
		t.Error("the last good file changed")
	}
}

// A FIFO, a device or a link where pull reads or writes its files is an
// error at once, never a hang; so is an unsafe directory.
func TestLocalFilesMustBeRegular(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(good)) })
	for name, setup := range map[string]func(dest string) error{
		"fifo at dest":       func(dest string) error { return syscall.Mkfifo(dest, 0o600) },
		"fifo at state":      func(dest string) error { return syscall.Mkfifo(StatePath(dest), 0o600) },
		"link to /dev/zero":  func(dest string) error { return os.Symlink("/dev/zero", dest) },
		"state link":         func(dest string) error { return os.Symlink("/dev/zero", StatePath(dest)) },
		"world-writable dir": func(dest string) error { return os.Chmod(filepath.Dir(dest), 0o777) },
	} {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "d", "host.hcl")
			os.MkdirAll(filepath.Dir(dest), 0o700)
			if err := setup(dest); err != nil {
				t.Skip(err)
			}
			done := make(chan error, 1)
			go func() { _, err := pull(t, Options{URL: url}, dest); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("pull succeeded")
				}
				if _, ok := err.(*FetchError); ok {
					t.Errorf("a local problem reported as the hub's: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("pull hangs")
			}
		})
	}
}

// A pull stopped by a signal (its context) is recorded as interrupted.
func TestInterruptedPullIsNotUnreachable(t *testing.T) {
	started := make(chan struct{})
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	dest := filepath.Join(t.TempDir(), "host.hcl")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := Pull(ctx, Options{URL: url, Host: "pve-demo"}, dest)
	wantFetchError(t, err, Interrupted)
	if st, _ := ReadState(dest); st.LastReason != Interrupted {
		t.Errorf("state = %+v", st)
	}
}

// What a killed pull left behind is removed by the next one.
func TestStaleTemporaryFilesAreRemoved(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(good)) })
	dir := t.TempDir()
	dest := filepath.Join(dir, "host.hcl")
	for _, n := range []string{".host.hcl.tmp123", ".host.hcl.pull.json.tmp456"} {
		writeFile(t, filepath.Join(dir, n), "partial")
	}
	if _, err := pull(t, Options{URL: url}, dest); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "host.hcl host.hcl.pull.json" {
		t.Errorf("left: %v", names)
	}
}
