package trust

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const goodRequest = "felhom-converge request v1\n" +
	"host: pve-demo\n" +
	"op: guest.destroy\n" +
	"guest: 105\n" +
	"params: {\"purge\":true}\n" +
	"nonce: 3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f\n" +
	"not-after: 2026-11-28T03:00:00Z\n"

func TestRequestMarshalMatchesDesign(t *testing.T) {
	r, err := NewRequest(Action{Host: "pve-demo", Op: "guest.destroy", Guest: 105, Params: json.RawMessage(`{ "purge" : true }`)},
		"3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f", time.Date(2026, 11, 28, 4, 0, 0, 999, time.FixedZone("CET", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(r.Marshal()); got != goodRequest {
		t.Fatalf("got\n%s\nwant\n%s", got, goodRequest)
	}
	if id := r.ID(); !strings.HasPrefix(id, "guest.destroy-105-") || len(id) != len("guest.destroy-105-")+8 {
		t.Errorf("id %q", id)
	}
	host, err := NewRequest(Action{Host: "pve-demo", Op: "signers.rotate"}, "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(host.Marshal()), "\nguest: -\nparams: {}\n") || strings.Count(host.ID(), "-") != 1 {
		t.Errorf("host-level request:\n%s id %s", host.Marshal(), host.ID())
	}
}

func TestNewRequestRefuses(t *testing.T) {
	nonce := "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f"
	tests := []struct {
		name string
		a    Action
		n    string
	}{
		{"unknown op", Action{Host: "h", Op: "guest.explode", Guest: 105}, nonce},
		{"guest op without guest", Action{Host: "h", Op: "guest.destroy"}, nonce},
		{"host op with guest", Action{Host: "h", Op: "storage.mount", Guest: 105}, nonce},
		{"vmid below 100", Action{Host: "h", Op: "guest.stop", Guest: 99}, nonce},
		{"params not an object", Action{Host: "h", Op: "guest.stop", Guest: 105, Params: json.RawMessage(`[1]`)}, nonce},
		{"params trailing data", Action{Host: "h", Op: "guest.stop", Guest: 105, Params: json.RawMessage(`{} {}`)}, nonce},
		{"host with space", Action{Host: "pve demo", Op: "guest.stop", Guest: 105}, nonce},
		{"host with newline", Action{Host: "pve\nop: x", Op: "guest.stop", Guest: 105}, nonce},
		{"short nonce", Action{Host: "h", Op: "guest.stop", Guest: 105}, nonce[:30]},
		{"upper-case nonce", Action{Host: "h", Op: "guest.stop", Guest: 105}, strings.ToUpper(nonce)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRequest(tt.a, tt.n, time.Now()); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]byte(goodRequest))
	if err != nil {
		t.Fatal(err)
	}
	if r.Host != "pve-demo" || r.Op != "guest.destroy" || r.Guest != 105 || string(r.Params) != `{"purge":true}` ||
		r.Nonce != "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f" || !r.NotAfter.Equal(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("parsed %+v", r)
	}
	edit := func(old, new string) string { return strings.Replace(goodRequest, old, new, 1) }
	bad := []struct{ name, in string }{
		{"empty", ""},
		{"no final newline", strings.TrimSuffix(goodRequest, "\n")},
		{"CRLF", strings.ReplaceAll(goodRequest, "\n", "\r\n")},
		{"CR in value", edit("pve-demo", "pve-demo\r")},
		{"trailing garbage", goodRequest + "x"},
		{"extra blank line", goodRequest + "\n"},
		{"wrong version", edit("v1", "v2")},
		{"BOM", "\ufeff" + goodRequest},
		{"unknown field", edit("op: ", "opx: ")},
		{"duplicate field", edit("op: guest.destroy\n", "op: guest.destroy\nop: guest.destroy\n")},
		{"fields reordered", edit("host: pve-demo\nop: guest.destroy\n", "op: guest.destroy\nhost: pve-demo\n")},
		{"two spaces", edit("host: ", "host:  ")},
		{"unknown op", edit("guest.destroy", "guest.explode")},
		{"guest leading zero", edit("guest: 105", "guest: 0105")},
		{"guest plus sign", edit("guest: 105", "guest: +105")},
		{"guest missing", edit("guest: 105", "guest: -")},
		{"params with space", edit(`{"purge":true}`, `{"purge": true}`)},
		{"params unsorted", edit(`{"purge":true}`, `{"z":1,"a":2}`)},
		{"params duplicate key", edit(`{"purge":true}`, `{"a":1,"a":1}`)},
		{"params array", edit(`{"purge":true}`, `[]`)},
		{"params empty", edit(`{"purge":true}`, ``)},
		{"nonce upper-case", edit("3b9f0c3c", "3B9F0C3C")},
		{"nonce short", edit("3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f", "3b9f0c3c")},
		{"not-after with offset", edit("03:00:00Z", "03:00:00+00:00")},
		{"not-after fractional", edit("03:00:00Z", "03:00:00.5Z")},
		{"not-after lower-case", edit("T03:00:00Z", "t03:00:00z")},
		{"oversized", goodRequest[:len(goodRequest)-1] + strings.Repeat(" ", MaxRequestSize) + "\n"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.in))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RequestError", err)
			}
		})
	}
}

func TestSameBinding(t *testing.T) {
	r, err := ParseRequest([]byte(goodRequest))
	if err != nil {
		t.Fatal(err)
	}
	step := Action{Host: "pve-demo", Op: "guest.destroy", Guest: 105, Params: json.RawMessage(`{ "purge": true }`)}
	if d := r.sameBinding(step); d != "" {
		t.Fatalf("same step differs: %s", d)
	}
	step.Params = nil
	if d := r.sameBinding(step); d != "params" {
		t.Fatalf("missing params: %q", d)
	}
}
