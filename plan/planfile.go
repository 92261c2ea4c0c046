package plan

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/felhom/felhom-converge/atomicfile"
)

// A saved plan ('plan -out FILE', then 'apply FILE') can narrow what an
// apply runs, never widen it. The file is JSON:
//
//	{"format": "felhom-converge saved plan", "version": 2,
//	 "mac": "<hex HMAC-SHA256 of the plan member's bytes>", "plan": {...}}
//
// The MAC is over the compact JSON of the plan member (the file shows it
// indented). It is recognised by that format member alone, never by sniffing a file
// at a desired-state path, and authenticated with a key only this host
// holds (STATE_DIR/plan.key, 32 random bytes, mode 0600, made by the first
// 'plan -out'). At apply the host is observed again and the desired file
// the plan names (unchanged, by its digest) planned afresh; a saved step
// runs only when the fresh plan has the identical step (op, guest, params,
// class), and every guest a saved step touches must still have the config
// digest it was planned against. Params never come from the file alone.

const (
	savedFormat  = "felhom-converge saved plan"
	savedVersion = 2
	// PlanKeyFile is the saved-plan key's name in the state directory.
	PlanKeyFile = "plan.key"
)

type savedFile struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	MAC     string          `json:"mac"`
	Plan    json.RawMessage `json:"plan"`
}

// IsSaved reports whether data, read from the file name, is a saved plan:
// by its format member (whether or not it is valid), and never a file
// named *.hcl, which is desired state (from a hub, or a Git checkout)
// whatever it holds.
func IsSaved(name string, data []byte) bool {
	var f struct {
		Format string `json:"format"`
	}
	trimmed := bytes.TrimSpace(data)
	return !strings.HasSuffix(name, ".hcl") && len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &f) == nil && f.Format == savedFormat
}

// CheckSavedName refuses a name a saved plan may not have: *.hcl, which
// apply reads as desired state (IsSaved).
func CheckSavedName(name string) error {
	if strings.HasSuffix(name, ".hcl") {
		return fmt.Errorf("a saved plan may not be named %s: apply reads every *.hcl file as desired state; name it for example %s.plan", name, strings.TrimSuffix(name, ".hcl"))
	}
	return nil
}

// Saved returns p as a saved plan authenticated with key.
func (p *Plan) Saved(key []byte) ([]byte, error) {
	body, err := json.Marshal(p) // compact: the MAC is over this form
	if err != nil {
		return nil, err
	}
	doc, err := json.MarshalIndent(savedFile{Format: savedFormat, Version: savedVersion, MAC: mac(key, body), Plan: body}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(doc, '\n'), nil
}

// WriteSaved writes p to path as a saved plan authenticated with the
// plan key of the state directory stateDir (made on first use).
func (p *Plan) WriteSaved(stateDir, path string) error {
	key, err := PlanKey(stateDir, true)
	if err != nil {
		return err
	}
	doc, err := p.Saved(key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, doc, 0o600); err != nil {
		return fmt.Errorf("write the saved plan: %w", err)
	}
	return nil
}

func mac(key, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// SavedPlanError is a saved plan that is not this host's, not intact, or
// no longer the plan of the host as it is: nothing of it runs.
type SavedPlanError struct{ Msg string }

func (e *SavedPlanError) Error() string { return "saved plan: " + e.Msg + "; nothing was changed" }

// ReadSaved authenticates a saved plan with key and returns its plan.
func ReadSaved(data, key []byte) (*Plan, error) {
	var f savedFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.Format != savedFormat {
		return nil, &SavedPlanError{Msg: "not a saved plan of felhom-converge"}
	}
	if f.Version != savedVersion {
		return nil, &SavedPlanError{Msg: fmt.Sprintf("format version %d, this felhom-converge reads %d", f.Version, savedVersion)}
	}
	var body bytes.Buffer
	if err := json.Compact(&body, f.Plan); err != nil {
		return nil, &SavedPlanError{Msg: "its plan is not JSON"}
	}
	want := mac(key, body.Bytes())
	if len(key) == 0 || !hmac.Equal([]byte(want), []byte(strings.ToLower(f.MAC))) {
		return nil, &SavedPlanError{Msg: "it was not made on this host by 'plan -out', or it was changed since (its authentication does not hold)"}
	}
	var p Plan
	if err := json.Unmarshal(body.Bytes(), &p); err != nil {
		return nil, &SavedPlanError{Msg: "its plan does not decode: " + err.Error()}
	}
	return &p, nil
}

// Narrow returns the steps of fresh that the saved plan also has,
// identical in op, guest, params and class, in fresh's order; a saved step
// the fresh plan lacks does not run and is listed in dropped. It refuses
// (*SavedPlanError) a plan for another host or desired file, and one
// whose guests changed since it was made: every guest a saved step
// touches must have the digest it was planned against.
func (p *Plan) Narrow(fresh *Plan) (narrowed *Plan, dropped []string, err error) {
	switch {
	case p.Host != fresh.Host:
		return nil, nil, &SavedPlanError{Msg: fmt.Sprintf("it is for host %q, this is %q", p.Host, fresh.Host)}
	case p.DesiredDigest != fresh.DesiredDigest:
		return nil, nil, &SavedPlanError{Msg: fmt.Sprintf("the desired file %s changed since the plan was made", p.DesiredFile)}
	}
	for _, st := range p.Steps {
		v := st.VMID()
		if v == 0 {
			continue
		}
		now, ok := fresh.Observed[v]
		if !ok {
			now = fresh.observedOf(v)
		}
		if st.ObservedDigest != now {
			return nil, nil, &SavedPlanError{Msg: fmt.Sprintf("guest %d changed since the plan was made (config digest %s, planned against %s)", v, orUnset(now), orUnset(st.ObservedDigest))}
		}
	}
	out := *fresh
	out.Steps = nil
	used := make([]bool, len(p.Steps))
	for _, fs := range fresh.Steps {
		for i, ss := range p.Steps {
			if !used[i] && sameStep(ss, fs) {
				used[i] = true
				out.Steps = append(out.Steps, fs)
				break
			}
		}
	}
	for i, ss := range p.Steps {
		if !used[i] {
			dropped = append(dropped, ss.ID)
		}
	}
	if out.Steps == nil {
		out.Steps = []Step{}
	}
	return &out, dropped, nil
}

// observedOf is the digest a step of this plan records for guest v.
func (p *Plan) observedOf(v int) string {
	for _, st := range p.Steps {
		if st.VMID() == v && st.ObservedDigest != "" {
			return st.ObservedDigest
		}
	}
	return ""
}

func sameStep(a, b Step) bool {
	return a.Op == b.Op && a.VMID() == b.VMID() && a.Class == b.Class && bytes.Equal(a.Params, b.Params)
}

// PlanKey returns the state directory's saved-plan key; with create, a
// missing key is made (32 random bytes, 0600). The key file must be a
// regular file of this user, not readable by others.
func PlanKey(stateDir string, create bool) ([]byte, error) {
	path := filepath.Join(stateDir, PlanKeyFile)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write the saved-plan key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the saved-plan key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || fi.Size() > 256 {
		return nil, fmt.Errorf("the saved-plan key %s must be a small regular file readable only by its owner (mode 0600)", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("the saved-plan key %s is owned by uid %d, not by this user (uid %d), who runs apply; remove it and plan again with -out", path, st.Uid, os.Geteuid())
	}
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	key, err := hex.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("the saved-plan key %s is damaged; remove it and plan again with -out", path)
	}
	return key, nil
}
