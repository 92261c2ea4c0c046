package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/felhom/felhom-converge/atomicfile"
	"github.com/felhom/felhom-converge/journal"
)

// RecordFile is the file in the state directory that says what a run
// made, until its cleanup removed it.
const RecordFile = "conformance.json"

// record is what a run made, written before each thing is made: the next
// run removes what a killed one left.
type record struct {
	Run           string    `json:"run"` // in the guest's description and the archives' notes
	VMID          int       `json:"vmid"`
	Node          string    `json:"node"`
	Started       time.Time `json:"started"`
	BackupStorage string    `json:"backup_storage"`
	Archives      []string  `json:"archives,omitempty"` // archives known to be the run's

	dir *journal.StateDir
}

// loadRecord reads the record a run left in dir; nil when there is none.
func loadRecord(dir *journal.StateDir) (*record, error) {
	f, err := dir.OpenFile(RecordFile, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("conformance record: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("conformance record: %w", err)
	}
	rec := &record{dir: dir}
	if err := json.Unmarshal(b, rec); err != nil || rec.Run == "" || rec.VMID <= 0 {
		return nil, fmt.Errorf("conformance record %s is not one this tool wrote (%v); remove it once you have checked the host by hand",
			filepath.Join(dir.Path(), RecordFile), err)
	}
	return rec, nil
}

// save writes the record atomically.
func (r *record) save() error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(r.dir.Path(), RecordFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("conformance record: %w", err)
	}
	return nil
}

// addArchive records an archive of the run's.
func (r *record) addArchive(volid string) error {
	if !slices.Contains(r.Archives, volid) {
		r.Archives = append(r.Archives, volid)
	}
	return r.save()
}

// remove deletes the record: everything it names is gone.
func (r *record) remove() error {
	err := os.Remove(filepath.Join(r.dir.Path(), RecordFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("conformance record: %w", err)
	}
	return atomicfile.SyncDir(r.dir.Path())
}
