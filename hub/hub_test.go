package hub

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/schema"
)

const good = "host \"pve-demo\" {\n  node = \"pve\"\n}\n"

// serve starts a plain loopback hub with handler h and returns its URL.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func pull(t *testing.T, o Options, dest string) (Result, error) {
	t.Helper()
	if o.Host == "" {
		o.Host = "pve-demo"
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return Pull(context.Background(), o, dest)
}

func wantFetchError(t *testing.T, err error, reason Reason) *FetchError {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *FetchError (%s)", err, reason)
	}
	if fe.Reason != reason {
		t.Fatalf("reason = %s (%v), want %s", fe.Reason, fe, reason)
	}
	return fe
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A body without Content-Length is cut at the bound, not read to the end.
func TestStreamedBodyOverTheBound(t *testing.T) {
	sent := 0
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(good))
		chunk := []byte(strings.Repeat("#", 64<<10) + "\n")
		for sent = len(good); sent <= 2*schema.MaxFileSize; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up
			}
			w.(http.Flusher).Flush()
		}
	})
	dest := filepath.Join(t.TempDir(), "host.hcl")
	writeFile(t, dest, good)
	_, err := pull(t, Options{URL: url + "/x.hcl"}, dest)
	wantFetchError(t, err, TooLarge)
	if got := readFile(t, dest); got != good {
		t.Errorf("the last good file changed: %q", got)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed (Authorization %q)", r.Header.Get("Authorization"))
	})
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+"/elsewhere.hcl", http.StatusFound)
	})
	_, err := pull(t, Options{URL: url + "/x.hcl", Token: config.NewSecret("tok")}, filepath.Join(t.TempDir(), "host.hcl"))
	fe := wantFetchError(t, err, HTTPStatus)
	if !strings.Contains(fe.Error(), "302 Found (redirects are not followed") {
		t.Errorf("error = %v", fe)
	}
}

// The same bytes again (a hub without ETags) leave the file untouched.
func TestSameBytesAreUnchanged(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			t.Errorf("If-None-Match sent without a stored ETag")
		}
		w.Write([]byte(good))
	})
	dest := filepath.Join(t.TempDir(), "host.hcl")
	res, err := pull(t, Options{URL: url}, dest)
	if err != nil || res.Outcome != Updated || res.ETag != "" {
		t.Fatalf("first pull: %+v, %v", res, err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dest, old, old); err != nil {
		t.Fatal(err)
	}
	res, err = pull(t, Options{URL: url}, dest)
	if err != nil || res.Outcome != Unchanged {
		t.Fatalf("second pull: %+v, %v", res, err)
	}
	if fi, err := os.Stat(dest); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("the unchanged file was rewritten")
	}
	st, err := ReadState(dest)
	if err != nil || st.LastSuccess.IsZero() || st.LastError != "" {
		t.Errorf("state = %+v, %v", st, err)
	}
}

// A 304 to a request that sent no If-None-Match is not a success.
func TestUnaskedNotModified(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
	_, err := pull(t, Options{URL: url}, filepath.Join(t.TempDir(), "host.hcl"))
	wantFetchError(t, err, HTTPStatus)
}

// Only well-formed ETags are stored and sent back as a header.
func TestETagForms(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`:                              `"abc"`,
		`W/"abc-1"`:                          `W/"abc-1"`,
		`abc`:                                "",
		`"a b"`:                              "",
		`"a"b"`:                              "",
		"\"a\x01\"":                          "",
		`"` + strings.Repeat("a", 300) + `"`: "",
	} {
		if got := validETag(in); got != want {
			t.Errorf("validETag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURLRules(t *testing.T) {
	for _, tc := range []struct{ url, err string }{
		{"http://hub.example.net/x.hcl", "plain http is allowed only on loopback"},
		{"ftp://127.0.0.1/x.hcl", "want an https:// URL"},
		{"https://user:pw@hub.example.net/x.hcl", "user info is not allowed"},
		{"/just/a/path", "has no host"},
	} {
		_, err := pull(t, Options{URL: tc.url}, filepath.Join(t.TempDir(), "host.hcl"))
		var fe *FetchError
		if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want a setting error with %q", tc.url, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the error shows the password: %v", tc.url, err)
		}
	}
}

// A query (which may carry a secret) is sent but never printed.
func TestQueryIsNotPrinted(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("key") != "hunter2" {
			t.Errorf("query = %q", r.URL.RawQuery)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err := pull(t, Options{URL: url + "/x.hcl?key=hunter2"}, filepath.Join(t.TempDir(), "host.hcl"))
	fe := wantFetchError(t, err, HTTPStatus)
	if strings.Contains(fe.Error(), "hunter2") {
		t.Errorf("the error shows the query: %v", fe)
	}
	_, err = pull(t, Options{URL: "http://127.0.0.1:1/x.hcl?key=hunter2"}, filepath.Join(t.TempDir(), "host.hcl"))
	fe = wantFetchError(t, err, Unreachable)
	if strings.Contains(fe.Error(), "hunter2") {
		t.Errorf("the error shows the query: %v", fe)
	}
}

func TestTokenIsCheckedAndNeverInErrors(t *testing.T) {
	_, err := pull(t, Options{URL: "http://127.0.0.1:1/x", Token: config.NewSecret("abc\r\nX-Evil: 1")}, filepath.Join(t.TempDir(), "host.hcl"))
	if err == nil || !strings.Contains(err.Error(), "whitespace or control characters") || strings.Contains(err.Error(), "Evil") {
		t.Errorf("err = %v", err)
	}
}

// A hub slower than the timeout is unreachable, and the file stays.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	dest := filepath.Join(t.TempDir(), "host.hcl")
	writeFile(t, dest, good)
	start := time.Now()
	_, err := pull(t, Options{URL: url, Timeout: 200 * time.Millisecond}, dest)
	fe := wantFetchError(t, err, Unreachable)
	if !strings.Contains(fe.Error(), "timed out") || time.Since(start) > 3*time.Second {
		t.Errorf("err = %v after %v", fe, time.Since(start))
	}
	if readFile(t, dest) != good {
		t.Errorf("the last good file changed")
	}
	st, _ := ReadState(dest)
	if st.LastReason != Unreachable || st.LastAttempt.IsZero() {
		t.Errorf("state = %+v", st)
	}
}

func TestSchemaWarningsAreReturned(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(good + "guest \"web\" {\n  vmid   = 100\n  memory = \"1000000000B\"\n}\n"))
	})
	res, err := pull(t, Options{URL: url + "/h.hcl"}, filepath.Join(t.TempDir(), "host.hcl"))
	if err != nil || len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "hub:h.hcl:6,") {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
}

// A damaged state file costs a full download, never a blocked pull.
func TestDamagedStateIsRewritten(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			t.Errorf("If-None-Match sent from a damaged state")
		}
		w.Header().Set("ETag", `"v1"`)
		w.Write([]byte(good))
	})
	dest := filepath.Join(t.TempDir(), "host.hcl")
	writeFile(t, dest, good)
	writeFile(t, StatePath(dest), "{not json")
	if _, err := ReadState(dest); err == nil {
		t.Fatal("ReadState accepted a damaged file")
	}
	res, err := pull(t, Options{URL: url}, dest)
	if err != nil || res.Outcome != Unchanged {
		t.Fatalf("pull: %+v, %v", res, err)
	}
	if st, err := ReadState(dest); err != nil || st.ETag != `"v1"` {
		t.Errorf("state = %+v, %v", st, err)
	}
}
