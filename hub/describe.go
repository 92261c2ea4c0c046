package hub

import (
	"fmt"

	"github.com/felhom/felhom-converge/humanize"
)

// Line says what a pull of dest did, as 'felhom-converge pull' prints it.
func (r Result) Line(dest string) string {
	etag := ""
	if r.ETag != "" {
		etag = ", ETag " + r.ETag
	}
	switch r.Outcome {
	case NotModified:
		return fmt.Sprintf("pull: %s is up to date (304 Not Modified%s)", dest, etag)
	case Unchanged:
		return fmt.Sprintf("pull: %s is up to date (same %d bytes%s)", dest, r.Bytes, etag)
	}
	return fmt.Sprintf("pull: updated %s (%d bytes, sha256 %s%s)", dest, r.Bytes, r.SHA256[:12], etag)
}

// Line says what a signatures pull did: for a new bundle, how many of its
// requests were installed, refused and skipped.
func (r SignaturesResult) Line(installed, refused, skipped int) string {
	switch r.Outcome {
	case NotModified:
		return "pull: signatures unchanged (304 Not Modified)"
	case Unchanged:
		return "pull: signatures unchanged (the same bundle)"
	}
	return fmt.Sprintf("pull: signatures: %d installed, %d refused, %d skipped of %s", installed, refused, skipped, humanize.Plural(r.Entries, "request"))
}
