# format padding a value to a gigabyte.
# validate: Value too large
# fmt: ok
host "pve-demo" {
  node = "pve"
}
locals {
  x = format("%999999999d", 1)
}
