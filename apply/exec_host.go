package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/ops"
)

// storageMount mounts a USB disk by file-system UUID through the fenced
// root runner (which refuses a mount point in use). A mount that would
// hide data is refused: over a directory that holds anything, or over a
// directory another mount lives below.
type storageMount struct{ p ops.StorageMountParams }

func (e storageMount) check(_ context.Context, x *stepRun) error {
	if x.o.HostFS == nil {
		return errors.New("no view of the host's file system to check the mount point with")
	}
	mp := path.Clean(e.p.Mountpoint)
	points, err := x.o.HostFS.MountPoints()
	if err != nil {
		return fmt.Errorf("read the host's mounts: %w", err)
	}
	for _, p := range points {
		if strings.HasPrefix(p, mp+"/") {
			return fmt.Errorf("%s is a parent of the mount point %s: mounting there would hide it", mp, p)
		}
		if p == mp {
			return nil // something is mounted there: the root runner tells whether it is this disk
		}
	}
	n, err := x.o.HostFS.DirEntries(mp)
	switch {
	case err != nil:
		return fmt.Errorf("read %s: %w", mp, err)
	case n > 0:
		return fmt.Errorf("%s is not empty (%d entries): mounting there would hide them; empty it or choose another mount point", mp, n)
	}
	return nil
}

func (e storageMount) run(ctx context.Context, x *stepRun) error {
	if x.o.Mounter == nil {
		return errors.New("no privileged runner to mount with")
	}
	c := x.main(e.p)
	c.do = func(ctx context.Context) error { return x.o.Mounter.MountUSBByUUID(ctx, e.p.UUID, e.p.Mountpoint) }
	_, err := x.do(ctx, c)
	return err
}

// signersRotate replaces the trust root with the desired signers block,
// exactly the file whose SHA-256 the signature names.
type signersRotate struct{ p ops.SignersRotateParams }

func (e signersRotate) content(x *stepRun) ([]byte, error) {
	if x.o.Desired == nil || x.o.Desired.Signers == nil {
		return nil, errors.New("the desired state has no signers block")
	}
	if x.o.AllowedSignersPath == "" {
		return nil, errors.New("no allowed_signers path")
	}
	content := []byte(x.o.Desired.Signers.AllowedSigners())
	sum := sha256.Sum256(content)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, e.p.SHA256) {
		return nil, fmt.Errorf("the desired signers hash to %s, the signed step names %s: plan again", got, e.p.SHA256)
	}
	return content, nil
}

func (e signersRotate) check(_ context.Context, x *stepRun) error {
	_, err := e.content(x)
	return err
}

func (e signersRotate) run(ctx context.Context, x *stepRun) error {
	content, err := e.content(x)
	if err != nil {
		return err
	}
	c := x.main(e.p)
	c.do = func(context.Context) error { return atomicfile.WriteFile(x.o.AllowedSignersPath, content, 0o644) }
	_, err = x.do(ctx, c)
	return err
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
