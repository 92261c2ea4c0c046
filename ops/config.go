package ops

// plainConfigKeys are the LXC config keys that hold a setting and never a
// volume: what guest.set may write (besides netN, and a mount point's
// options). A key not listed is refused, so a new Proxmox key that names a
// volume (or a hook script) can never be written by a benign step.
var plainConfigKeys = map[string]bool{
	"hostname": true, "cores": true, "cpulimit": true, "cpuunits": true,
	"memory": true, "swap": true, "onboot": true, "startup": true,
	"protection": true, "tags": true, "description": true, "features": true,
	"nameserver": true, "searchdomain": true, "timezone": true,
}

// PlainConfigKey reports whether k is an LXC config key that holds a
// setting and never a volume.
func PlainConfigKey(k string) bool { return plainConfigKeys[k] }
