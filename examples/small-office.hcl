# A small office's Proxmox host: file server, mail relay, accounting and a
# reverse proxy, with data on separate mount points, snapshots before risky
# changes, a weekly backup job to a USB disk, and the operators who may sign
# destructive steps.

host "office-pve01" {
  node = "pve01"
}

locals {
  bridge  = "vmbr0"
  gateway = "10.20.0.1"
  backups = "usb-backup"
}

guest "proxy" {
  vmid         = 200
  hostname     = "proxy"
  cores        = 1
  memory       = "512MiB"
  swap         = 0
  unprivileged = true
  onboot       = true
  protection   = true
  tags         = ["edge", "prod"]
  description  = "Caddy reverse proxy for all office services"

  rootfs {
    storage = "local-lvm"
    size    = "4G"
  }

  network "eth0" {
    bridge   = local.bridge
    ip       = "10.20.0.10/24"
    gw       = local.gateway
    hwaddr   = "BC:24:11:A0:00:10"
    firewall = true
  }
}

guest "files" {
  vmid         = 201
  hostname     = "files"
  from_backup  = "local:backup/vzdump-lxc-201-2026_11_20-01_00_00.tar.zst"
  cores        = 2
  memory       = "4G"
  swap         = "1G"
  unprivileged = true
  onboot       = true
  protection   = true
  tags         = ["prod", "samba"]
  description  = "Samba shares: scans, projects, home directories"

  rootfs {
    storage = "local-lvm"
    size    = "16G"
  }

  mount "shares" {
    path    = "/srv/shares"
    storage = "local-lvm"
    size    = "500G"
    backup  = true
  }

  mount "scans" {
    path    = "/srv/scans"
    storage = "local-lvm"
    size    = "50G"
    backup  = false
  }

  network "eth0" {
    bridge = local.bridge
    ip     = "10.20.0.20/24"
    gw     = local.gateway
    hwaddr = "BC:24:11:A0:00:20"
  }

  snapshot "before-samba-4-19" {
    description = "Before the Samba 4.19 upgrade"
  }
}

guest "accounting" {
  vmid         = 202
  hostname     = "accounting"
  cores        = 2
  memory       = "3G"
  swap         = 512
  unprivileged = true
  onboot       = true
  protection   = true
  tags         = ["finance", "prod"]
  description  = "Accounting database (PostgreSQL 16)"

  features {
    nesting = true
  }

  rootfs {
    storage = "local-lvm"
    size    = "32G"
  }

  mount "pgdata" {
    path    = "/var/lib/postgresql"
    storage = "local-lvm"
    size    = "100G"
    backup  = true
  }

  network "eth0" {
    bridge   = local.bridge
    ip       = "10.20.0.30/24"
    gw       = local.gateway
    hwaddr   = "BC:24:11:A0:00:30"
    vlan     = 20
    firewall = true
  }

  snapshot "year-end-2026" {
    description = "Books closed for 2026"
  }
}

guest "mailrelay" {
  vmid         = 203
  hostname     = "mailrelay"
  cores        = 1
  memory       = 512
  swap         = 256
  unprivileged = true
  onboot       = true
  tags         = ["mail", "prod"]
  # The old spool volume, detached (unused0) when its mount point was
  # removed. Named by volume ID, not by its unusedN slot, so the line can
  # never free a volume detached later; freeing it needs a signature.
  remove_volumes = ["local-lvm:vm-203-disk-1"]

  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }

  network "eth0" {
    bridge = local.bridge
    ip     = "10.20.0.40/24"
    gw     = local.gateway
    hwaddr = "BC:24:11:A0:00:40"
  }
}

# The old print server was retired; destroying it needs a signature.
guest "print" {
  vmid  = 290
  state = "absent"
}

storage "usb-backup" {
  usb_uuid   = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
  mountpoint = "/mnt/usb-backup"
}

# Backs up to the Proxmox directory storage "usb-backup" kept on the USB
# disk above (the disk's mountpoint is its path in storage.cfg). The job runs
# once; vzdump keeps every older archive because prune is not set.
job "backup-accounting-2026-11-27" {
  op      = "backup.create"
  guest   = "accounting"
  storage = local.backups
  mode    = "snapshot"
}

signers {
  signer "anna@office-it" {
    key          = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICnCf9xaygmDwGKpfiDKxwfm9y2Mqi9y7injkfwPXbi8 anna@office-it"
    roles        = ["operational"]
    valid_before = "2027-12-31"
  }

  signer "recovery@felhom" {
    key   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2Vafx93GiBmoCXmazftn3y50jhd7i8P4hBePpEpuTg recovery@felhom"
    roles = ["recovery"]
  }
}
