package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/felhom/felhom-converge/schema"
)

// MakeAPI is what Make reads of the host.
type MakeAPI interface {
	API
	ResourceAPI
	// HostID is the node's identity requests bind to (its certificate's
	// SHA-256 fingerprint).
	HostID(ctx context.Context) (string, error)
}

// Source is everything one plan is made from.
type Source struct {
	Desired     *schema.Host
	DesiredSrc  []byte // the desired file's bytes (the plan carries their digest)
	DesiredFile string
	// Host is the local config's host name, which requests bind to.
	Host        string
	API         MakeAPI
	Concurrency int // observe reads in flight at once
	Provenance  Provenance
	// AllowedSigners is the live trust root's path, read only when the
	// desired file has a signers block.
	AllowedSigners string
	// Mounts maps a storage block's mount point to the UUID mounted
	// there (nil: not known).
	Mounts         map[string]string
	GoldenVMIDs    []int
	NoSafetyBackup bool
	// RootPassword says the local config names a root password file for
	// guests created from a template.
	RootPassword bool
	// BindMountDirs are the host directories guests may bind-mount.
	BindMountDirs []string
	SignPolicy    []string
	// Requests says where the signature requests of destructive steps
	// are written; with Requests.DryRun none are.
	Requests RequestOptions
	Now      time.Time
	// NewStateDir says the state directory holds no journal yet: on a
	// host whose guests exist, the plan notes that what an earlier state
	// directory knew (jobs done, spent signatures) is forgotten.
	NewStateDir bool
}

// ObserveError is a plan that could not be made because the host did not
// answer a read as it should (its cause says which).
type ObserveError struct{ Err error }

func (e *ObserveError) Error() string { return "observe the host: " + e.Err.Error() }
func (e *ObserveError) Unwrap() error { return e.Err }

// Make observes the host, computes the plan, checks the bridges and
// storages its steps use, and gives every destructive step its signature
// request, bound to the host's name and identity. It returns the plan
// and the host's identity.
func Make(ctx context.Context, s Source) (*Plan, string, error) {
	if err := s.Desired.CheckNode(s.API.Node()); err != nil {
		return nil, "", err
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	// The host's identity is read beside the observe, not after it.
	type identity struct {
		id  string
		err error
	}
	idc := make(chan identity, 1)
	go func() {
		id, err := s.API.HostID(ctx)
		idc <- identity{id, err}
	}()
	live, err := Observe(ctx, s.API, s.Desired, s.Concurrency, s.Provenance)
	hid := <-idc
	if err != nil {
		return nil, "", &ObserveError{err}
	}
	var signers []byte
	if s.Desired.Signers != nil {
		signers, err = os.ReadFile(s.AllowedSigners)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("read the trust root: %w", err)
		}
	}
	sum := sha256.Sum256(s.DesiredSrc)
	p := Diff(s.Desired, live, Inputs{
		DesiredFile:    s.DesiredFile,
		DesiredDigest:  hex.EncodeToString(sum[:]),
		Provenance:     s.Provenance,
		Now:            s.Now,
		AllowedSigners: signers,
		Mounts:         s.Mounts,
		GoldenVMIDs:    s.GoldenVMIDs,
		NoSafetyBackup: s.NoSafetyBackup,
		SignPolicy:     s.SignPolicy,
		RootPassword:   s.RootPassword,
		BindMountDirs:  s.BindMountDirs,
	})
	if err := p.CheckResources(ctx, s.API, live); err != nil {
		return nil, "", &ObserveError{err}
	}
	hostID := hid.id
	if hid.err != nil {
		return nil, "", &ObserveError{fmt.Errorf("read its identity: %w", hid.err)}
	}
	if s.NewStateDir && len(p.Observed) > 0 {
		p.Notes = append(p.Notes, "the state directory is new (no journal): if this host was managed before, its one-shot jobs may run again and the signatures it spent are forgotten")
	}
	ro := s.Requests
	ro.Host, ro.HostID, ro.Now = s.Host, hostID, s.Now
	if err := p.AttachRequests(ro); err != nil {
		return nil, "", fmt.Errorf("signature requests: %w", err)
	}
	return p, hostID, nil
}
