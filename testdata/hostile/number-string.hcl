# A string spelling a huge number, used in arithmetic.
# validate: String used as a number
# fmt: ok
host "pve-demo" {
  node = "pve"
}
guest "a" {
  vmid  = 100
  cores = "1e600000000" + 0
}
