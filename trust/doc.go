// Package trust verifies operator signatures made with stock OpenSSH
// (ssh-keygen -Y sign) over signature requests, against the host's
// allowed_signers trust root. It executes nothing.
package trust
