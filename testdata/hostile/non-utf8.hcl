# Bytes that are not UTF-8.
# validate: Invalid UTF-8
# fmt: Invalid UTF-8
host "pve-demo" {
  node = "pÿve"
}
