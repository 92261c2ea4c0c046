# A huge number printed into a string: a 30 MB string from 20 bytes.
# validate: Number out of range
# fmt: Number out of range
host "pve-demo" {
  node = "pve"
}
guest "a" {
  vmid = 100
  description = "x${1e30000000}"
}
