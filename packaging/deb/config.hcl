# /etc/felhom-converge/config.hcl: this host's own settings for
# felhom-converge. Nothing in it comes from the hub. Every setting can also
# be set by an environment variable (FELHOM_CONVERGE_HOST,
# FELHOM_CONVERGE_PROXMOX_NODE, ...), which wins over this file.
#
# A line starting with "#" and a setting is an example or the default:
# remove the "#" to use it. host, proxmox.endpoint, proxmox.node and one of
# the tls settings are required; the others default to what is shown.
# The install guide: /usr/share/doc/felhom-converge/docs/operating.md.gz

# This host's name; its desired-state file must name the same host.
#host = "pve1"

# Journal, lock, spent signature nonces, requests; owned by the service
# user felhom, mode 0700.
#state_dir = "/var/lib/felhom-converge"

# The operators' public keys and their roles (root-owned, mode 0644).
#allowed_signers = "/etc/felhom-converge/allowed_signers"

#proxmox {
#  endpoint    = "https://127.0.0.1:8006"
#  node        = "pve1"
#  timeout     = "30s"
#  concurrency = 4
#
#  # The API token (felhom@pve!converge=SECRET) is not set here: the unit
#  # hands the service /etc/felhom-converge/proxmox-token (root, 0600) as a
#  # systemd credential.
#
#  tls {
#    # Exactly one of: the SHA-256 fingerprint that 'pvenode cert info'
#    # shows for pve-ssl.pem, or a CA file readable by felhom.
#    fingerprint = "5C:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:A1"
#    #ca_file   = "/etc/felhom-converge/pve-root-ca.pem"
#  }
#}

# How the few root-only commands run (mount a USB disk, pct create of a
# golden image, smartctl, sensors): "sudo" with the allowlist in
# /etc/sudoers.d/felhom-converge, or "direct" under
# felhom-converge-root.service.
#privileged {
#  mode = "sudo"
#}

# Safety copies taken before a signed destructive step, and how long they
# are kept.
#safety {
#  enabled        = true
#  backup_storage = "local"
#  keep           = "7d"
#}
