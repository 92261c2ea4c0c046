# Desired state of the demo host, written against the simulator's default
# seed. Compared with the seed it asks for a few benign changes: more memory
# for web, a new snapshot of web, a "docs" tag on files, and a new guest wiki
# restored from the golden image. One job deletes web's old pre-upgrade
# snapshot: that loses a recovery point, so it waits for an operator's
# signature. Guest 110 (legacy) is not listed, so it is reported as
# unmanaged and left alone.

host "pve-demo" {
  node = "pve"
}

locals {
  golden = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"
}

guest "web" {
  vmid         = 100
  hostname     = "web"
  cores        = 2
  memory       = "2GiB" # seeded with 1024 MiB
  swap         = 512
  unprivileged = true
  onboot       = true
  tags         = ["prod", "web"]
  description  = "Company website"

  features {
    nesting = true
  }

  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }

  network "eth0" {
    bridge   = "vmbr0"
    ip       = "dhcp"
    hwaddr   = "BC:24:11:5E:7A:01"
    firewall = true
  }

  snapshot "before-demo" {
    description = "taken by the demo"
  }
}

guest "files" {
  vmid         = 101
  hostname     = "files"
  cores        = 2
  memory       = 2048
  swap         = 512
  unprivileged = true
  onboot       = true
  tags         = ["files", "docs"]

  rootfs {
    storage = "local-lvm"
    size    = "16G"
  }

  mount "share" {
    path    = "/srv/share"
    storage = "local-lvm"
    size    = "64G"
    backup  = true
  }

  network "eth0" {
    bridge = "vmbr0"
    ip     = "192.168.1.21/24"
    gw     = "192.168.1.1"
    hwaddr = "BC:24:11:5E:7A:02"
  }
}

guest "wiki" {
  vmid         = 102
  hostname     = "wiki"
  from_backup  = local.golden
  cores        = 1
  memory       = "1G"
  swap         = 256
  unprivileged = true
  onboot       = true
  tags         = ["prod", "wiki"]
  description  = "Team wiki"

  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }

  network "eth0" {
    bridge   = "vmbr0"
    ip       = "dhcp"
    firewall = true
  }
}

# A one-shot job runs at most once on this host (the journal remembers).
job "drop-pre-upgrade" {
  op       = "snapshot.delete"
  guest    = "web"
  snapshot = "pre-upgrade"
}
