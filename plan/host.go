package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/felhom/felhom-converge/ops"
	"golang.org/x/crypto/ssh"
)

// storageMounts plans the host storage the file declares (a USB disk by
// UUID). With the host's mounts read, a disk already mounted where it
// should be needs nothing.
func (b *builder) storageMounts() {
	for _, st := range b.desired.Storages {
		if b.in.Mounts != nil && strings.EqualFold(b.in.Mounts[st.Mountpoint], st.USBUUID) {
			continue
		}
		s := b.newStep(0, "", ops.StorageMount, ops.StorageMountParams{Name: st.Name, UUID: st.USBUUID, Mountpoint: st.Mountpoint})
		s.Reason = "mounts the disk " + st.USBUUID + " at " + st.Mountpoint
		s.Source = source(&st.DeclRange)
		b.plan.Steps = append(b.plan.Steps, s)
	}
}

// signers plans a trust-root rotation when the desired signers block
// differs from the live allowed_signers file. Params name the new file's
// SHA-256 and every principal with its key fingerprint and roles, so the
// operator signs exactly the key set that will be trusted.
func (b *builder) signers() {
	ss := b.desired.Signers
	if ss == nil {
		return
	}
	want := []byte(ss.AllowedSigners())
	if bytes.Equal(want, b.in.AllowedSigners) {
		return
	}
	sum := sha256.Sum256(want)
	list := make([]ops.Signer, 0, len(ss.Signers))
	for _, sg := range ss.Signers {
		fp := ""
		if blob, err := base64.StdEncoding.DecodeString(sg.Key); err == nil {
			if k, err := ssh.ParsePublicKey(blob); err == nil {
				fp = ssh.FingerprintSHA256(k)
			}
		}
		list = append(list, ops.Signer{Principal: sg.Principal, Fingerprint: fp, Roles: sg.Namespaces()})
	}
	s := b.newStep(0, "", ops.SignersRotate, ops.SignersRotateParams{SHA256: hex.EncodeToString(sum[:]), Signers: list})
	s.Reason = fmt.Sprintf("replaces the operators' trust root with the file's %d %s", len(list), plural(len(list), "signer", "signers"))
	s.Source = source(&ss.DeclRange)
	b.plan.Steps = append(b.plan.Steps, s)
}
