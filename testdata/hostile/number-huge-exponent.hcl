# A number literal with a huge exponent: hours of CPU to print, gigabytes.
# validate: Number out of range
# fmt: Number out of range
host "pve-demo" {
  node = "pve"
}
guest "a" {
  vmid = 100
  vmid = 1e600000000
}
