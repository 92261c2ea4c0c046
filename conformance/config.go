package conformance

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/felhom/felhom-converge/proxmox"
)

// configFile renders a config as write_pct_config writes the file (main
// section only): the description as '#' lines, encoded as encode_text
// does, the keys sorted, then the raw lxc keys.
func configFile(conf proxmox.GuestConfig) string {
	var b strings.Builder
	lines := strings.Split(conf.Values["description"], "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		b.WriteString("#")
		for i := 0; i < len(l); i++ {
			if c := l[i]; c < 0x20 || c >= 0x7f || c == '%' || c == ':' {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
		b.WriteString("\n")
	}
	keys := make([]string, 0, len(conf.Values))
	for k := range conf.Values {
		if k != "description" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + ": " + conf.Values[k] + "\n")
	}
	for _, kv := range conf.RawLXC {
		b.WriteString(kv[0] + ": " + kv[1] + "\n")
	}
	return b.String()
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (r *run) checkDigest(ctx context.Context) {
	r.check(ctx, "digest is the config's SHA-1", "pve-container src/PVE/LXC/Config.pm parse_pct_config, write_pct_config", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "GET config's digest is the SHA-1 of the config file (description as '#' lines with ':' and '%' %XX-encoded, then 'key: value' sorted, raw lxc keys last); GET pending's digest row is the same; a read leaves it, a write changes it"
			match := func() (string, error) {
				v, err := r.look(ctx)
				if err != nil {
					return "", err
				}
				conf, p := v.conf, v.pending
				for k, e := range p {
					if e.NeedsRestart() {
						return "", skip(fmt.Sprintf("not run: %s waits for the next start, so the file has a pending section", k))
					}
				}
				if want := sha1Hex(configFile(conf)); conf.Digest != want || p["digest"].Value != conf.Digest {
					return "", fmt.Errorf("digest %q (pending's %q); the SHA-1 of the file the config renders to is %s", conf.Digest, p["digest"].Value, want)
				}
				return conf.Digest, nil
			}
			d0, err := match()
			if err != nil {
				return "", err
			}
			again, err := match()
			if err != nil {
				return "", err
			}
			if err := r.c.SetConfig(ctx, r.vmid, map[string]string{"description": r.marker + "\nchecked: 100%"}, nil, ""); err != nil {
				return "", err
			}
			d1, err := match()
			if err != nil {
				return "", fmt.Errorf("after a write: %w", err)
			}
			if again != d0 || d1 == d0 {
				return "", fmt.Errorf("digest %s, then %s on a second read, %s after a write", d0, again, d1)
			}
			return fmt.Sprintf("%s, the SHA-1 of the rendered file; %s after a write", d0, d1), nil
		})
}

func (r *run) checkStaleDigest(ctx context.Context) {
	r.check(ctx, "stale digest refused", "pve-common PVE/Tools.pm assert_if_modified (from update_vm)", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			const refusal = "detected modified configuration - file changed by other user? Try again."
			c.Expected = "a config write with the digest of an older config: HTTP 500 " + refusal + "; nothing is written"
			before, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			if err := r.c.SetConfig(ctx, r.vmid, map[string]string{"onboot": "0"}, nil, before.Digest); err != nil {
				return "", fmt.Errorf("a write with the current digest: %w", err)
			}
			now, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			err = r.c.SetConfig(ctx, r.vmid, map[string]string{"tags": "felhom-conformance;stale"}, nil, before.Digest)
			after, rerr := r.config(ctx)
			if rerr != nil {
				return "", rerr
			}
			var apiErr *proxmox.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != 500 || apiErr.Message != refusal || !proxmox.IsDigestMismatch(err) {
				return "", fmt.Errorf("the write with the old digest answered %v", err)
			}
			if after.Digest != now.Digest {
				return "", fmt.Errorf("refused (%v), but the config changed: tags %q", err, after.Values["tags"])
			}
			return fmt.Sprintf("%d %s; nothing written", apiErr.Status, apiErr.Message), nil
		})
}

func (r *run) checkFailedWriteStopped(ctx context.Context) {
	r.check(ctx, "failed write, stopped guest", "pve-container src/PVE/LXC/Config.pm update_pct_config (dies before update_vm writes)", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "a write of hostname and net0 with an MTU above its bridge's to a stopped guest: HTTP 500 net0: MTU size '65520' is bigger than bridge MTU '...'; nothing is written (hostname and digest unchanged)"
			before, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			key, net := firstNet(before.Values)
			if key == "" {
				return "", skip("not run: the guest has no interface")
			}
			err = r.c.SetConfig(ctx, r.vmid, map[string]string{"hostname": "felhom-conformance-failed", key: withProp(net, "mtu", "65520")}, nil, "")
			after, rerr := r.config(ctx)
			if rerr != nil {
				return "", rerr
			}
			var apiErr *proxmox.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != 500 || !strings.HasPrefix(apiErr.Message, key+": MTU size '65520' is bigger than bridge MTU") {
				return "", fmt.Errorf("the write answered %v", err)
			}
			if after.Digest != before.Digest {
				return "", fmt.Errorf("refused (%s), but written: hostname %q, %s %q", apiErr.Message, after.Values["hostname"], key, after.Values[key])
			}
			return fmt.Sprintf("%d %s; nothing written", apiErr.Status, apiErr.Message), nil
		})
}

// rootfsVolume returns the rootfs value, its volume and its size in bytes.
func (r *run) rootfsVolume(ctx context.Context) (value, volume string, size int64, err error) {
	conf, err := r.config(ctx)
	if err != nil {
		return "", "", 0, err
	}
	p := prop(conf.RootFS(), "volume")
	size, err = parseSize(p["size"])
	if err != nil || p["volume"] == "" {
		return "", "", 0, fmt.Errorf("cannot read rootfs %q", conf.RootFS())
	}
	return conf.RootFS(), p["volume"], size, nil
}

// volumeSize is the size the storage lists for a volume of the guest.
func (r *run) volumeSize(ctx context.Context, volid string) (int64, error) {
	sid, _, _ := strings.Cut(volid, ":")
	items, err := r.c.StorageContent(ctx, sid, "", r.vmid)
	if err != nil {
		return 0, fmt.Errorf("list storage %s: %w", sid, err)
	}
	for _, it := range items {
		if it.VolID == volid {
			return int64(it.Size), nil
		}
	}
	return 0, fmt.Errorf("storage %s does not list %s", sid, volid)
}

// parseSize reads Proxmox's disk size ("8G", "8704M", bytes).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return int64(f * float64(mult)), nil
}

// withSize is a rootfs or mpN value with its size replaced.
func withSize(value string, size int64) string {
	parts := strings.Split(value, ",")
	for i, p := range parts {
		if strings.HasPrefix(p, "size=") {
			parts[i] = fmt.Sprintf("size=%dG", size>>30)
		}
	}
	return strings.Join(parts, ",")
}

func (r *run) checkRootfsVerbatim(ctx context.Context) {
	r.check(ctx, "rootfs stored verbatim", "pve-container src/PVE/LXC/Config.pm vmconfig_apply_pending (rootfs is not applied as a mount point)", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "rootfs written through PUT config on a stopped guest is stored as sent: a size 3G larger stays in the config, the volume keeps its size (no allocation, no rescan)"
			orig, vol, size, err := r.rootfsVolume(ctx)
			if err != nil {
				return "", err
			}
			sent := withSize(orig, size+3<<30)
			if _, err := r.c.Raw(ctx, "PUT", r.guestPath("config"), values(map[string]string{"rootfs": sent})); err != nil {
				return "", err
			}
			stored, _, _, err := r.rootfsVolume(ctx)
			if err != nil {
				return "", err
			}
			onStorage, err := r.volumeSize(ctx, vol)
			if err != nil {
				return "", err
			}
			if _, err := r.c.Raw(ctx, "PUT", r.guestPath("config"), values(map[string]string{"rootfs": orig})); err != nil {
				return "", fmt.Errorf("putting rootfs back to %s: %w", orig, err)
			}
			back, _, _, err := r.rootfsVolume(ctx)
			if err != nil {
				return "", err
			}
			if stored != sent || onStorage != size || back != orig {
				return "", fmt.Errorf("sent %s: the config read %s, the volume is %d bytes (was %d); put back %s, read %s", sent, stored, onStorage, size, orig, back)
			}
			return fmt.Sprintf("stored %s as sent; %s stayed %d bytes", sent, vol, size), nil
		})
}

func (r *run) checkResizeGrow(ctx context.Context) {
	r.check(ctx, "resize grows", "pve-container src/PVE/API2/LXC.pm resize_vm", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "PUT resize rootfs +1G answers a resize task that ends OK; the volume and the config's size grow by 1G"
			_, vol, size, err := r.rootfsVolume(ctx)
			if err != nil {
				return "", err
			}
			upid, err := r.c.Resize(ctx, r.vmid, "rootfs", "+1G", "")
			if _, err := r.done(ctx, upid, err); err != nil {
				return "", err
			}
			value, _, now, err := r.rootfsVolume(ctx)
			if err != nil {
				return "", err
			}
			onStorage, err := r.volumeSize(ctx, vol)
			if err != nil {
				return "", err
			}
			if want := size + 1<<30; upid.Type != "resize" || now != want || onStorage != want {
				return "", fmt.Errorf("%s ended OK; rootfs %s, the volume %d bytes (want %d)", upid.Type, value, onStorage, want)
			}
			return fmt.Sprintf("resize ended OK; rootfs %s", value), nil
		})
}

func (r *run) checkResizeShrink(ctx context.Context) {
	r.check(ctx, "resize shrink refused", "pve-container src/PVE/API2/LXC.pm resize_vm", []string{r.makeName()},
		func(ctx context.Context, c *Check) (string, error) {
			c.Expected = "PUT resize rootfs to a size below the current one: HTTP 500 unable to shrink disk size, before any task; nothing changes"
			before, err := r.config(ctx)
			if err != nil {
				return "", err
			}
			_, _, size, err := r.rootfsVolume(ctx)
			if err != nil {
				return "", err
			}
			_, err = r.c.Resize(ctx, r.vmid, "rootfs", strconv.FormatInt((size>>30)-1, 10)+"G", "")
			after, rerr := r.config(ctx)
			if rerr != nil {
				return "", rerr
			}
			var apiErr *proxmox.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != 500 || apiErr.Message != "unable to shrink disk size" {
				return "", fmt.Errorf("the shrink answered %v", err)
			}
			if after.Digest != before.Digest {
				return "", fmt.Errorf("refused, but the config changed: rootfs %s", after.RootFS())
			}
			return fmt.Sprintf("%d %s", apiErr.Status, apiErr.Message), nil
		})
}
