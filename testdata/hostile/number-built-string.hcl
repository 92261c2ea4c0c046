# A string built to spell a huge number, used in arithmetic.
# validate: String used as a number
# fmt: ok
host "pve-demo" {
  node = "pve"
}
guest "a" {
  vmid  = 100
  cores = "${"1e"}${"600000000"}" * 1
}
