# A number literal finer than anything Proxmox takes, by a million digits.
# validate: Number out of range
# fmt: Number out of range
host "pve-demo" {
  node = "pve"
}
guest "a" {
  vmid = 100
  cores  = 1e-1000000
  memory = 1e-1000000
}
