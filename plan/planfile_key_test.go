package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The saved-plan key is this user's own: one owned by another user is
// refused, whatever its mode.
func TestPlanKeyOfAnotherOwnerIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the key to another user")
	}
	dir := t.TempDir()
	if _, err := PlanKey(dir, true); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanKey(dir, false); err != nil {
		t.Fatalf("own key: %v", err)
	}
	if err := os.Chown(filepath.Join(dir, PlanKeyFile), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := PlanKey(dir, false)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534, not by this user") {
		t.Errorf("another user's key: %v", err)
	}
}

func TestSavedPlansAreNeverNamedHCL(t *testing.T) {
	doc := []byte(`{"format": "felhom-converge saved plan", "version": 2}`)
	if !IsSaved("x.plan", doc) || IsSaved("hosts/pve1.hcl", doc) {
		t.Error("IsSaved must go by the format member, and never for *.hcl")
	}
	if CheckSavedName("x.hcl") == nil || CheckSavedName("x.plan") != nil {
		t.Error("CheckSavedName")
	}
}
