// Package proxmox is the only package that touches the Proxmox VE host.
//
// It has two halves that never mix, and tests hold them apart:
//
//   - [Client] talks to the Proxmox VE HTTP API with an API token. It never
//     starts a process: this package does not import os/exec.
//   - [Privileged] runs the few root-only commands the API cannot do
//     (creating a golden container with keyctl, mounting a USB disk,
//     reading SMART data and sensors). It never opens a network connection:
//     it holds only a [Runner], whose real implementation lives in
//     proxmox/hostexec, the one package that starts processes.
//
// # The API client
//
// Start with [New] and [Options]. Reads return plain structs decoded
// leniently, because Proxmox sends the same field as a number or a string
// depending on the version ([Int], [Float], [Bool]). Mutations that Proxmox
// runs as a worker task return a [UPID]; [Client.WaitTask] polls it and
// returns nil only for exit status "OK", a *[TaskWarnings] for
// "WARNINGS: N" (a success), and a *[TaskError] otherwise; any other error
// (a timeout, a cancel, a status it could not read) leaves the outcome
// unknown, and the task may still be running. Config writes
// ([Client.SetConfig]) are synchronous and take the digest read with the
// config, so Proxmox refuses a lost update.
//
// A refused request is an *[APIError]: Proxmox puts the message in the
// HTTP reason phrase (and, from PVE 8.3/8.4, also in the body), names the
// missing privilege in a 403, and answers a missing guest with a 500.
// [IsNotFound], [IsLocked], [IsDigestMismatch] and [IsPermissionDenied]
// classify errors for callers that decide. Only idempotent GETs are
// retried, on transient failures (a dropped or refused connection, a
// timeout, a 5xx other than 501 or a missing guest's 500), never a POST, PUT or
// DELETE; requests in flight are bounded, because
// pveproxy has few workers.
//
// # Secrets and TLS
//
// The API token is a secret: a [Token] prints, formats and marshals as
// "user@realm!id=REDACTED", and the secret reaches only the Authorization
// header. TLS trust is exactly one of a CA file (full verification), a
// SHA-256 pin of the node's certificate in the form Proxmox reports it, or
// an explicit InsecureSkipVerify, accepted only for a loopback endpoint.
// HTTP/2 is never used, nor an environment proxy, nor a redirect.
//
// The package decides nothing; plan and apply do.
package proxmox
