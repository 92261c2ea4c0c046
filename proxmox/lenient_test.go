package proxmox

import (
	"encoding/json"
	"testing"
)

func TestLenientScalars(t *testing.T) {
	ints := []struct {
		in   string
		want Int
		ok   bool
		why  string
	}{
		{`106`, 106, true, "PVE 8.2+ vmid"},
		{`"106"`, 106, true, "PVE 7 vmid"},
		{`"412316860416"`, 412316860416, true, "storage size sent as a string"},
		{`1.0e3`, 1000, true, "an integral float"},
		{`null`, 0, true, "null is the zero value"},
		{`""`, 0, true, "an empty string is the zero value"},
		{`1.5`, 0, false, "a fraction is not an integer"},
		{`"abc"`, 0, false, "not a number"},
		{`true`, 0, false, "not a number"},
	}
	for _, c := range ints {
		var v Int
		err := json.Unmarshal([]byte(c.in), &v)
		if (err == nil) != c.ok || v != c.want {
			t.Errorf("Int(%s) = %d, %v (%s)", c.in, v, err, c.why)
		}
	}
	floats := []struct {
		in   string
		want Float
		ok   bool
		why  string
	}{
		{`0.0031`, 0.0031, true, "cpu fraction"},
		{`"0.00"`, 0, true, "loadavg entry"},
		{`"1.5"`, 1.5, true, "cpulimit"},
		{`"3400.000"`, 3400, true, "cpuinfo mhz"},
		{`"x"`, 0, false, "not a number"},
	}
	for _, c := range floats {
		var v Float
		err := json.Unmarshal([]byte(c.in), &v)
		if (err == nil) != c.ok || v != c.want {
			t.Errorf("Float(%s) = %v, %v (%s)", c.in, v, err, c.why)
		}
	}
	bools := []struct {
		in   string
		want Bool
		ok   bool
		why  string
	}{
		{`1`, true, true, "config booleans are 0/1 numbers"},
		{`0`, false, true, "config booleans are 0/1 numbers"},
		{`"1"`, true, true, "cpuinfo hvm is a string"},
		{`true`, true, true, "JSON true from newer endpoints"},
		{`null`, false, true, "null is false"},
		{`2`, false, false, "not a boolean"},
	}
	for _, c := range bools {
		var v Bool
		err := json.Unmarshal([]byte(c.in), &v)
		if (err == nil) != c.ok || v != c.want {
			t.Errorf("Bool(%s) = %v, %v (%s)", c.in, v, err, c.why)
		}
	}
}

// GuestConfig keeps every key, renders numbers as text, keeps strings
// verbatim and round-trips through JSON.
func TestGuestConfigDecode(t *testing.T) {
	in := `{"memory":1024,"cpulimit":"1.5","onboot":1,"description":"managed by felhom\n","digest":"abc","tags":"prod;web","mp3":"local-lvm:vm-100-disk-1,mp=/srv,size=8G","net0":"name=eth0,bridge=vmbr0","unused0":"local-lvm:vm-100-disk-2"}`
	var g GuestConfig
	if err := json.Unmarshal([]byte(in), &g); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Get("memory"); v != "1024" || g.Description() != "managed by felhom\n" || g.Digest != "abc" {
		t.Fatalf("got %+v", g)
	}
	if f, ok := g.CPULimit(); !ok || f != 1.5 {
		t.Errorf("CPULimit = %v, %v", f, ok)
	}
	if _, ok := g.Cores(); ok {
		t.Error("Cores set although absent")
	}
	if g.MountPoints()[3] == "" || g.Nets()[0] == "" || g.Unused()[0] != "local-lvm:vm-100-disk-2" || len(g.Keys()) != 8 {
		t.Errorf("indexed keys: %v %v %v %v", g.MountPoints(), g.Nets(), g.Unused(), g.Keys())
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var back GuestConfig
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Digest != g.Digest || len(back.Values) != len(g.Values) || back.Values["description"] != g.Values["description"] {
		t.Fatalf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"memory":{"x":1}}`), &g); err == nil {
		t.Error("accepted an object as a config value")
	}
}

// A boolean config key sent as JSON true/false reads like 1/0, as Bool
// decodes it.
func TestGuestConfigJSONBooleans(t *testing.T) {
	var g GuestConfig
	if err := json.Unmarshal([]byte(`{"onboot":true,"unprivileged":true,"protection":false,"template":0}`), &g); err != nil {
		t.Fatal(err)
	}
	if !g.OnBoot() || !g.Unprivileged() || g.Protection() || g.Template() {
		t.Fatalf("onboot %v unprivileged %v protection %v template %v", g.OnBoot(), g.Unprivileged(), g.Protection(), g.Template())
	}
}

func TestParsePropertyString(t *testing.T) {
	m, err := ParsePropertyString("local-lvm:vm-100-disk-1,mp=/srv/data,backup=1,size=32G", "volume")
	if err != nil || m["volume"] != "local-lvm:vm-100-disk-1" || m["mp"] != "/srv/data" || m["size"] != "32G" {
		t.Fatalf("got %v, %v", m, err)
	}
	if _, err := ParsePropertyString("name=eth0,bridge", ""); err == nil {
		t.Error("accepted a value without a key after the first")
	}
	if _, err := ParsePropertyString("a=1,a=2", ""); err == nil {
		t.Error("accepted a duplicate key")
	}
}
