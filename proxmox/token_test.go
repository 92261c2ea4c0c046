package proxmox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	cases := []struct {
		name, in                string
		user, realm, id, header string
		wantErr                 bool
	}{
		{name: "as Proxmox prints it", in: "felhom@pve!converge=" + testSecret,
			user: "felhom", realm: "pve", id: "converge", header: "PVEAPIToken=felhom@pve!converge=" + testSecret},
		{name: "header form with prefix, trailing newline from a file", in: "PVEAPIToken=root@pam!tok-1=" + testSecret + "\n",
			user: "root", realm: "pam", id: "tok-1", header: "PVEAPIToken=root@pam!tok-1=" + testSecret},
		{name: "user containing @ (realm is after the last @)", in: "john@example.com@ad!ci=" + testSecret,
			user: "john@example.com", realm: "ad", id: "ci", header: "PVEAPIToken=john@example.com@ad!ci=" + testSecret},
		{name: "header form with a space, which Proxmox also accepts", in: "PVEAPIToken felhom@pve!converge=" + testSecret,
			user: "felhom", realm: "pve", id: "converge", header: "PVEAPIToken=felhom@pve!converge=" + testSecret},
		{name: "only a secret", in: testSecret, wantErr: true},
		{name: "secret and id swapped (the secret is before the last '=')", in: testSecret + "=felhom@pve!converge", wantErr: true},
		{name: "only a secret, then '='", in: testSecret + "=", wantErr: true},
		{name: "whitespace in the user (a pasted label)", in: "token felhom@pve!converge=" + testSecret, wantErr: true},
		{name: "realm that is not a name", in: "felhom@p/ve!converge=" + testSecret, wantErr: true},
		{name: "empty secret", in: "felhom@pve!converge=", wantErr: true},
		{name: "no token id", in: "felhom@pve=" + testSecret, wantErr: true},
		{name: "no realm", in: "felhom!converge=" + testSecret, wantErr: true},
		{name: "bad token id", in: "felhom@pve!1bad=" + testSecret, wantErr: true},
		{name: "secret with a space", in: "felhom@pve!converge=" + testSecret + " x", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseToken(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Fatalf("error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.User != tc.user || tok.Realm != tc.realm || tok.TokenID != tc.id || tok.authorization() != tc.header {
				t.Fatalf("got %v %q %q %q", tok, tok.User, tok.Realm, tok.TokenID)
			}
		})
	}
}

// No way of printing a Token, or a struct holding one, shows the secret.
func TestTokenRedaction(t *testing.T) {
	tok := testToken(t)
	opts := Options{Endpoint: "https://pve:8006", Node: "pve", Token: tok}
	type holder struct{ tok Token } // unexported: printed by reflection
	outs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10.3s"} {
		outs["token "+verb] = fmt.Sprintf(verb, tok)
		outs["options "+verb] = fmt.Sprintf(verb, opts)
		outs["pointer "+verb] = fmt.Sprintf(verb, &opts)
		outs["holder "+verb] = fmt.Sprintf(verb, holder{tok})
	}
	j, err := json.Marshal(struct{ Token Token }{tok})
	if err != nil {
		t.Fatal(err)
	}
	outs["json"] = string(j)
	txt, err := tok.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	outs["text"] = string(txt)
	var buf bytes.Buffer
	log.New(&buf, "", 0).Print(tok)
	outs["log"] = buf.String()
	c, err := New(Options{Endpoint: "https://pve:8006", Node: "pve", Token: tok, Fingerprint: strings.Repeat("AB", 32)})
	if err != nil {
		t.Fatal(err)
	}
	outs["client %v"] = fmt.Sprintf("%v", c)
	outs["client %+v"] = fmt.Sprintf("%+v", *c)

	for what, s := range outs {
		if strings.Contains(s, testSecret) || strings.Contains(s, testSecret[:8]) {
			t.Errorf("%s shows the secret: %s", what, s)
		}
	}
	if got := fmt.Sprint(tok); got != "felhom@pve!converge=REDACTED" {
		t.Errorf("String() = %q", got)
	}
	if !strings.Contains(outs["json"], `"Token":"felhom@pve!converge=REDACTED"`) {
		t.Errorf("JSON = %s", outs["json"])
	}
}

// Errors from failing requests, and the debug log, never carry the token.
func TestTokenNotInErrorsOrLogs(t *testing.T) {
	s := newPVEServer(t, func(r recorded) reply {
		if r.Header.Get("Authorization") != "PVEAPIToken=felhom@pve!converge="+testSecret {
			t.Errorf("Authorization header %q", r.Header.Get("Authorization"))
		}
		return reply{Status: 401, Reason: "no such token 'converge' for user 'felhom@pve'"}
	})
	var logged strings.Builder
	c := newTestClient(t, s, func(o *Options) {
		o.Logf = func(f string, a ...any) { fmt.Fprintf(&logged, f+"\n", a...) }
	})
	_, err := c.Version(context.Background())
	if err == nil {
		t.Fatal("no error from a 401")
	}
	// A refused connection, too.
	dead, _ := New(Options{Endpoint: "http://127.0.0.1:1", Node: "pve", Token: testToken(t), Logf: c.logf})
	dead.backoff = time.Millisecond
	_, err2 := dead.Nodes(context.Background())
	if err2 == nil {
		t.Fatal("no error from a refused connection")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), err2.Error(), logged.String()} {
		if strings.Contains(s, testSecret) {
			t.Errorf("secret in %q", s)
		}
	}
	if !strings.Contains(logged.String(), "GET /version") {
		t.Errorf("debug log has no request line: %q", logged.String())
	}
}

// The secret travels only in the Authorization header: never in a URL
// (net/http quotes URLs in its errors), a query, a body or another header.
func TestTokenOnlyInAuthorizationHeader(t *testing.T) {
	s, _ := taskServer(t, 1, "OK", []string{"TASK OK"})
	c := newTestClient(t, s)
	ctx := context.Background()
	upid, err := c.Start(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTask(ctx, upid, fastWait()); err != nil {
		t.Fatal(err)
	}
	_, _ = c.TaskLogTail(ctx, upid, 5)
	_, _ = c.DestroyLXC(ctx, 100, DestroyOptions{Purge: true})
	_ = c.SetConfig(ctx, 100, map[string]string{"memory": "512"}, []string{"swap"}, "abc")
	reqs := s.Requests()
	if len(reqs) < 6 {
		t.Fatalf("only %d requests recorded", len(reqs))
	}
	for _, r := range reqs {
		for _, part := range []string{r.Path, r.Query.Encode(), r.Body} {
			if strings.Contains(part, testSecret) {
				t.Errorf("%s %s carries the secret outside the Authorization header", r.Method, r.Path)
			}
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, testSecret) && k != "Authorization" {
					t.Errorf("header %s carries the secret", k)
				}
			}
		}
		if r.Header.Get("Authorization") != "PVEAPIToken=felhom@pve!converge="+testSecret {
			t.Errorf("%s %s: Authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}
}
