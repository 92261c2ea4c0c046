package pvesim

import "testing"

// FuzzPropertyStringsNormalise: whatever rootfs/mpN/netN value the
// simulator accepts, printing it is a fixed point: reading the stored
// value back and writing it again changes nothing (Proxmox's
// parse/print_property_string round trip), so digests do not drift.
func FuzzPropertyStringsNormalise(f *testing.F) {
	for _, seed := range []string{
		"local-lvm:vm-100-disk-0,size=8G",
		"local-lvm:vm-101-disk-1,mp=/srv/share,backup=1,size=64G",
		"volume=local:100/vm-100-disk-0.raw,size=8704M,ro=1",
		"name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth",
		"name=eth1,ip=192.168.1.21/24,gw=192.168.1.1,bridge=vmbr1,tag=20",
		"bridge=vmbr0,name=x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, key := range []string{"rootfs", "mp0"} {
			ps, err := parseMount(key, in)
			if err != nil {
				continue
			}
			once := printMount(ps)
			again, err := parseMount(key, once)
			if err != nil {
				t.Fatalf("%s %q printed as %q, which does not parse: %v", key, in, once, err)
			}
			if twice := printMount(again); twice != once {
				t.Fatalf("%s %q: %q then %q", key, in, once, twice)
			}
		}
		if ps, err := parseNet(in); err == nil {
			once := printNet(ps)
			again, err := parseNet(once)
			if err != nil {
				t.Fatalf("net %q printed as %q, which does not parse: %v", in, once, err)
			}
			if twice := printNet(again); twice != once {
				t.Fatalf("net %q: %q then %q", in, once, twice)
			}
		}
		if tags, err := normalizeTags(in); err == nil {
			if again, err := normalizeTags(tags); err != nil || again != tags {
				t.Fatalf("tags %q: %q then %q (%v)", in, tags, again, err)
			}
		}
	})
}
