package plan

import "github.com/felhom/felhom-converge/journal"

// Provenance is what the journal knows about objects the tool itself made
// and about past runs (*journal.Journal is one). It is the only source
// that can make a removal benign: nothing in the desired file, in live
// tags or in descriptions can.
type Provenance interface {
	// CreatedInTxn reports the open transaction in which the tool created
	// guest vmid by restore, if any.
	CreatedInTxn(vmid int) (txn string, ok bool)
	// ToolSnapshot reports whether snapshot name of guest vmid is a safety
	// snapshot the tool took.
	ToolSnapshot(vmid int, name string) bool
	// JobDone reports whether the desired-state job id has run.
	JobDone(id string) bool
	// LastDigest is the guest's config digest recorded after the last
	// successful step that changed it, and when.
	LastDigest(vmid int) (journal.Digest, bool)
	// GoldenArchives are the archives the tool made of golden image name,
	// oldest first, each with its identity (ctime, size).
	GoldenArchives(name string) []journal.Backup
}

var _ Provenance = (*journal.Journal)(nil)

// NoProvenance knows nothing: every removal is destructive, no job has
// run, and no drift is reported.
type NoProvenance struct{}

func (NoProvenance) CreatedInTxn(int) (string, bool)        { return "", false }
func (NoProvenance) ToolSnapshot(int, string) bool          { return false }
func (NoProvenance) JobDone(string) bool                    { return false }
func (NoProvenance) LastDigest(int) (journal.Digest, bool)  { return journal.Digest{}, false }
func (NoProvenance) GoldenArchives(string) []journal.Backup { return nil }
