package apply_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/felhom/felhom-converge/apply"
	"github.com/felhom/felhom-converge/plan"
	"github.com/felhom/felhom-converge/schema"
)

// ReadInput takes a desired file as it is, and refuses a saved plan it
// cannot authenticate (here: no plan key) as a *SavedPlanReadError
// without loading a desired file; CheckHost refuses another host's file.
func TestReadInput(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "host.hcl")
	if err := os.WriteFile(desired, []byte(`host "pve1" {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := 0
	load := func(file string) (*schema.Host, []byte, error) {
		loaded++
		src, err := os.ReadFile(file)
		return &schema.Host{Name: "pve1"}, src, err
	}
	stateDir := func() (string, error) { return dir, nil }
	in, err := apply.ReadInput(desired, stateDir, load)
	if err != nil {
		t.Fatal(err)
	}
	if in.File != desired || in.Saved != nil || in.Desired.Name != "pve1" || loaded != 1 {
		t.Fatalf("desired file read as %+v (loaded %d times)", in, loaded)
	}
	if err := in.CheckHost("pve1"); err != nil {
		t.Fatal(err)
	}
	if err := in.CheckHost("pve2"); !errors.As(err, new(*schema.WrongHostError)) {
		t.Fatalf("another host's file: %v, want a *schema.WrongHostError", err)
	}

	saved := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(saved, []byte(`{"format": "felhom-converge saved plan", "version": 2, "mac": "00", "plan": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = apply.ReadInput(saved, stateDir, load)
	if !errors.As(err, new(*apply.SavedPlanReadError)) || loaded != 1 {
		t.Fatalf("a saved plan without the host's key: %v (loaded %d times), want a *SavedPlanReadError", err, loaded)
	}
	if _, err := plan.PlanKey(dir, false); err == nil {
		t.Fatal("reading a saved plan made a plan key")
	}
}
