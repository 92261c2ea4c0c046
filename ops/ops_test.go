package ops

import (
	"errors"
	"strings"
	"testing"
)

func TestUnknownOpIsDestructive(t *testing.T) {
	if got := ClassOf("guest.teleport"); got != Destructive {
		t.Fatalf("ClassOf(unknown) = %q, want destructive", got)
	}
	if Known("guest.teleport") {
		t.Fatal("Known(unknown) = true")
	}
}

func TestEveryDestructiveOpSaysWhatItLoses(t *testing.T) {
	for _, s := range specs {
		if (s.Class == Destructive) != (s.Loses != "") {
			t.Errorf("%s: class %s with Loses %q", s.Name, s.Class, s.Loses)
		}
		if s.Class != Benign && s.Class != Destructive {
			t.Errorf("%s: class %q", s.Name, s.Class)
		}
	}
}

func TestNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Names() {
		if seen[n] {
			t.Errorf("duplicate op %s", n)
		}
		seen[n] = true
	}
	if len(seen) != 19 {
		t.Errorf("%d ops, want the 19 the design names", len(seen))
	}
}

func TestCheckParams(t *testing.T) {
	tests := []struct {
		op, params, wantErr string
	}{
		{"guest.destroy", `{"purge":true,"volumes":["local-lvm:vm-105-disk-0"]}`, ""},
		{"guest.destroy", `{"purge":true}`, `missing "volumes"`},
		{"guest.destroy", `{"purge":"yes","volumes":[]}`, `"purge" must be true or false`},
		{"snapshot.rollback", `{}`, `missing "snapshot"`},
		{"snapshot.rollback", `{"snapshot":"pre","snapshto":"x"}`, `did you mean "snapshot"`},
		{"guest.start", `{"x":1}`, "this op takes no params"},
		{"guest.start", ``, ""},
		{"volume.free", `[]`, "must be a JSON object"},
		{"guest.destory", `{}`, `did you mean "guest.destroy"`},
		{"signers.rotate", `{"sha256":"ab","signers":[{"principal":"a"}]}`, ""},
		{"guest.destroy", `{"purge":true,"volumes":[1]}`, "array of strings"},
	}
	for _, tt := range tests {
		err := CheckParams(tt.op, []byte(tt.params))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckParams(%s, %s) = %v, want nil", tt.op, tt.params, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckParams(%s, %s) = %v, want %q", tt.op, tt.params, err, tt.wantErr)
		}
	}
	var u *UnknownOpError
	if !errors.As(CheckParams("nope", nil), &u) {
		t.Error("unknown op: want *UnknownOpError")
	}
}
