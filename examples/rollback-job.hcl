# A one-shot rollback of web to its pre-upgrade snapshot. Rolling back throws
# away every write since the snapshot, so the plan holds this step back until
# an operator signs it:
#
#   felhom-converge plan examples/rollback-job.hcl
#   ssh-keygen -Y sign -n felhom-operational -f ~/.ssh/id_ed25519 STATE_DIR/requests/<id>.req
#   cp STATE_DIR/requests/<id>.req STATE_DIR/requests/<id>.req.sig STATE_DIR/signatures/
#   felhom-converge apply examples/rollback-job.hcl
#
# (plan writes the request to STATE_DIR/requests/, apply reads signed ones
# from STATE_DIR/signatures/; with --sim .demo STATE_DIR is .demo/state.)
#
# The job's ID is recorded in the journal once it has run, so it runs at most
# once on this host even though the file keeps it.

host "pve-demo" {
  node = "pve"
}

guest "web" {
  vmid = 100
}

job "rollback-web-php82" {
  op       = "snapshot.rollback"
  guest    = "web"
  snapshot = "pre-upgrade"
}
