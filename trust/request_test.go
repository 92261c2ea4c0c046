package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/felhom/felhom-converge/ops"
)

// testHostID is a host identity as requests carry it.
const testHostID = "5E:9C:3A:11:0B:7D:42:E8:A1:6F:90:2C:D4:B3:58:71:0E:CA:19:66:F2:8B:47:D0:3C:A5:E1:74:2B:9F:08:6D"

const goodRequest = "felhom-converge request v2\n" +
	"host: pve-demo\n" +
	"host-id: " + testHostID + "\n" +
	"op: guest.destroy\n" +
	"guest: 105\n" +
	"params: {\"purge\":true,\"volumes\":[\"local-lvm:vm-105-disk-0\"]}\n" +
	"nonce: 3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f\n" +
	"not-after: 2026-11-28T03:00:00Z\n"

func TestRequestMarshalMatchesDesign(t *testing.T) {
	r, err := NewRequest(Action{Host: "pve-demo", HostID: testHostID, Op: "guest.destroy", Guest: 105, Params: json.RawMessage(`{ "volumes": ["local-lvm:vm-105-disk-0"], "purge" : true }`)},
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
	host, err := NewRequest(Action{Host: "pve-demo", HostID: testHostID, Op: "storage.mount", Params: json.RawMessage(`{"mountpoint":"/mnt/usb","name":"usb","uuid":"0b1c"}`)}, "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(host.Marshal()), "\nguest: -\nparams: {\"mountpoint\":") || strings.Count(host.ID(), "-") != 1 {
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
		{"unknown op", Action{Host: "h", HostID: testHostID, Op: "guest.explode", Guest: 105}, nonce},
		{"guest op without guest", Action{Host: "h", HostID: testHostID, Op: "guest.destroy"}, nonce},
		{"host op with guest", Action{Host: "h", HostID: testHostID, Op: "storage.mount", Guest: 105}, nonce},
		{"vmid below 100", Action{Host: "h", HostID: testHostID, Op: "guest.stop", Guest: 99}, nonce},
		{"params not an object", Action{Host: "h", HostID: testHostID, Op: "guest.stop", Guest: 105, Params: json.RawMessage(`[1]`)}, nonce},
		{"params trailing data", Action{Host: "h", HostID: testHostID, Op: "guest.stop", Guest: 105, Params: json.RawMessage(`{} {}`)}, nonce},
		{"host with space", Action{Host: "pve demo", HostID: testHostID, Op: "guest.stop", Guest: 105}, nonce},
		{"host with newline", Action{Host: "pve\nop: x", HostID: testHostID, Op: "guest.stop", Guest: 105}, nonce},
		{"short nonce", Action{Host: "h", HostID: testHostID, Op: "guest.stop", Guest: 105}, nonce[:30]},
		{"upper-case nonce", Action{Host: "h", HostID: testHostID, Op: "guest.stop", Guest: 105}, strings.ToUpper(nonce)},
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
	if r.Host != "pve-demo" || r.Op != "guest.destroy" || r.Guest != 105 || string(r.Params) != `{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}` ||
		r.Nonce != "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f" || !r.NotAfter.Equal(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("parsed %+v", r)
	}
	edit := func(old, new string) string {
		if !strings.Contains(goodRequest, old) {
			t.Fatalf("edit: %q is not in the request", old) // a case that edits nothing tests nothing
		}
		return strings.Replace(goodRequest, old, new, 1)
	}
	bad := []struct{ name, in string }{
		{"empty", ""},
		{"no final newline", strings.TrimSuffix(goodRequest, "\n")},
		{"CRLF", strings.ReplaceAll(goodRequest, "\n", "\r\n")},
		{"CR in value", edit("pve-demo", "pve-demo\r")},
		{"trailing garbage", goodRequest + "x"},
		{"extra blank line", goodRequest + "\n"},
		{"wrong version", edit("v2", "v3")},
		{"version 1", edit("request v2\nhost: pve-demo\nhost-id: "+testHostID+"\n", "request v1\nhost: pve-demo\n")},
		{"lower-case host id", edit(testHostID, strings.ToLower(testHostID))},
		{"no host id", edit("host-id: "+testHostID+"\n", "")},
		{"BOM", "\ufeff" + goodRequest},
		{"unknown field", edit("op: ", "opx: ")},
		{"duplicate field", edit("op: guest.destroy\n", "op: guest.destroy\nop: guest.destroy\n")},
		{"fields reordered", edit("host-id: "+testHostID+"\nop: guest.destroy\n", "op: guest.destroy\nhost-id: "+testHostID+"\n")},
		{"two spaces", edit("host: ", "host:  ")},
		{"unknown op", edit("guest.destroy", "guest.explode")},
		{"guest leading zero", edit("guest: 105", "guest: 0105")},
		{"guest plus sign", edit("guest: 105", "guest: +105")},
		{"guest missing", edit("guest: 105", "guest: -")},
		{"params with space", edit(`{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, `{"purge": true}`)},
		{"params unsorted", edit(`{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, `{"z":1,"a":2}`)},
		{"params duplicate key", edit(`{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, `{"a":1,"a":1}`)},
		{"params array", edit(`{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, `[]`)},
		{"params empty", edit(`{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, ``)},
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
	step := Action{Host: "pve-demo", HostID: testHostID, Op: "guest.destroy", Guest: 105, Params: json.RawMessage(`{ "purge": true, "volumes": [ "local-lvm:vm-105-disk-0" ] }`)}
	if d := r.sameBinding(step); d != "" {
		t.Fatalf("same step differs: %s", d)
	}
	step.Params = nil
	if d := r.sameBinding(step); d != "params" {
		t.Fatalf("missing params: %q", d)
	}
}

func TestCanonicalParamsRefusesDuplicateKeys(t *testing.T) {
	for _, in := range []string{
		`{"purge":false,"purge":true}`,
		`{"purge":true,"volumes":["a"],"purge":true}`,
		`{"set":{"memory":1,"memory":2}}`,
		`{"a":[{"b":1},{"c":{"d":1,"d":1}}]}`,
		`{"purge":true,"p\u0075rge":false}`, // the same key, escaped
	} {
		if out, err := CanonicalParams([]byte(in)); err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Errorf("CanonicalParams(%s) = %s, %v; want a duplicate key error", in, out, err)
		}
	}
	for in, want := range map[string]string{
		`{ "b" : [1.50, {"z":null,"a":"x"}], "a": {} }`: `{"a":{},"b":[1.50,{"a":"x","z":null}]}`,
		`{"a":{"k":1},"b":{"k":2}}`:                     `{"a":{"k":1},"b":{"k":2}}`, // the same key in two objects is fine
		`{"s":"<&>\u2028"}`:                             `{"s":"<&>\u2028"}`,
	} {
		if out, err := CanonicalParams([]byte(in)); err != nil || string(out) != want {
			t.Errorf("CanonicalParams(%s) = %s, %v; want %s", in, out, err, want)
		}
	}
	for _, in := range []string{`{"a":1}}`, `{"a":1} x`, `{"a":}`, `{"a" 1}`, `{1:2}`, `[`, `{"a":[}`} {
		if out, err := CanonicalParams([]byte(in)); err == nil {
			t.Errorf("CanonicalParams(%s) = %s, want an error", in, out)
		}
	}
	// A step whose params repeat a key never matches a request.
	r, err := ParseRequest([]byte(goodRequest))
	if err != nil {
		t.Fatal(err)
	}
	step := r.Action
	step.Params = json.RawMessage(`{"purge":false,"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`)
	if d := r.sameBinding(step); d != "params" {
		t.Fatalf("duplicate-key step: %q", d)
	}
}

func TestNewRequestChecksSchemaAndSize(t *testing.T) {
	nonce := "3b9f0c3c8c1e4f6a9d2e7b5a1c0d4e8f"
	at := time.Now()
	_, err := NewRequest(Action{Host: "h", HostID: testHostID, Op: "guest.destory", Guest: 105}, nonce, at)
	var u *ops.UnknownOpError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), `did you mean "guest.destroy"`) {
		t.Errorf("unknown op: %v", err)
	}
	_, err = NewRequest(Action{Host: "h", HostID: testHostID, Op: "guest.destroy", Params: json.RawMessage(`{"purge":true,"volumes":[]}`)}, nonce, at)
	if !errors.Is(err, ErrNoGuest) {
		t.Errorf("no guest: %v", err)
	}
	var pe *ops.ParamsError
	_, err = NewRequest(Action{Host: "h", HostID: testHostID, Op: "snapshot.rollback", Guest: 105}, nonce, at)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `missing "snapshot"`) {
		t.Errorf("rollback without snapshot: %v", err)
	}
	_, err = NewRequest(Action{Host: "h", HostID: testHostID, Op: "guest.destroy", Guest: 105, Params: json.RawMessage(`{"purge":true}`)}, nonce, at)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `missing "volumes"`) {
		t.Errorf("destroy without volumes: %v", err)
	}
	// Params that fit the schema but make the statement too large: refused
	// here, so no request is ever written that verification must refuse.
	vols := make([]string, 0, 1000)
	for i := 0; len(strings.Join(vols, `","`)) < MaxRequestSize-200; i++ {
		vols = append(vols, fmt.Sprintf("local-lvm:vm-105-disk-%d", i))
	}
	big, _ := json.Marshal(map[string]any{"purge": true, "volumes": vols})
	r, err := NewRequest(Action{Host: "h", HostID: testHostID, Op: "guest.destroy", Guest: 105, Params: big}, nonce, at)
	if err == nil {
		if _, perr := ParseRequest(r.Marshal()); perr != nil {
			t.Fatalf("NewRequest made a request ParseRequest refuses: %v", perr)
		}
	}
	vols = append(vols, strings.Repeat("x", 300))
	big, _ = json.Marshal(map[string]any{"purge": true, "volumes": vols})
	if _, err := NewRequest(Action{Host: "h", HostID: testHostID, Op: "guest.destroy", Guest: 105, Params: big}, nonce, at); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("oversized request: %v", err)
	}
	// ParseRequest applies the same schema.
	bad := strings.Replace(goodRequest, `{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, `{"purge":true}`, 1)
	if _, err := ParseRequest([]byte(bad)); err == nil || !strings.Contains(err.Error(), `missing "volumes"`) {
		t.Fatalf("ParseRequest without volumes: %v", err)
	}
}

func TestCanonicalParamsBounds(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxParamsDepth) + "1" + strings.Repeat("}", MaxParamsDepth)
	if _, err := CanonicalParams([]byte(deep)); err != nil {
		t.Fatalf("depth %d: %v", MaxParamsDepth, err)
	}
	deeper := strings.Repeat("[", MaxParamsDepth) + `{"a":1}` + strings.Repeat("]", MaxParamsDepth)
	if _, err := CanonicalParams([]byte(`{"x":` + deeper + "}")); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("too deep: %v", err)
	}
	huge := `{"a":"` + strings.Repeat("x", MaxParamsSize) + `"}`
	if _, err := CanonicalParams([]byte(huge)); err == nil {
		t.Fatal("params over MaxParamsSize accepted")
	}
}

// Characters that would reorder or hide a request's text on a terminal
// are escaped in its canonical params, and mean the same.
func TestCanonicalParamsEscapeInvisibleCharacters(t *testing.T) {
	got, err := CanonicalParams([]byte("{\"set\":{\"mp0\":\"mp=/srv/\u202e1pukcab\x7f\u0085\u2028\"}}"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"set":{"mp0":"mp=/srv/\u202e1pukcab\u007f\u0085\u2028"}}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	again, err := CanonicalParams(got)
	if err != nil || string(again) != want {
		t.Errorf("not canonical again: %s %v", again, err)
	}
}
