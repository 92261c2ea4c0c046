package schema

import "path/filepath"

// ServiceDesiredFile is where the service's pull writes this host's
// desired state and its apply reads it, under the default state directory
// (STATE_DIR/desired/host.hcl).
const ServiceDesiredFile = "/var/lib/felhom-converge/desired/host.hcl"

// MissingFileError is a desired-state file that does not exist.
type MissingFileError struct {
	Path string
	Err  error // the open error, its path shown as DisplayName shows it
}

func (e *MissingFileError) Error() string { return "read desired state: " + e.Err.Error() }
func (e *MissingFileError) Unwrap() error { return e.Err }

// Hint says where the file comes from: the service's STATE_DIR/desired/
// host.hcl is written by its pull from the hub or placed by hand.
func (e *MissingFileError) Hint() string {
	if filepath.Base(e.Path) == "host.hcl" && filepath.Base(filepath.Dir(e.Path)) == "desired" {
		return "the service's pull writes it from the hub that FELHOM_CONVERGE_HUB_URL names in /etc/felhom-converge/hub.env " +
			"(by hand: felhom-converge pull URL --to " + DisplayName(e.Path) + "), or place it there by hand " +
			"(docs/operating.md, Install, 4. The desired state)"
	}
	return "check the path; the service applies " + ServiceDesiredFile
}
