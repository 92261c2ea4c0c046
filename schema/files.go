package schema

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
)

// The desired-state files a command is given: directories expanded to
// their *.hcl entries, each read under the load budget.

// DesiredFiles expands each directory among names to the *.hcl entries
// directly in it, in name order, as a GitOps repository's CI would pass
// them; other names are kept as given. A directory without any *.hcl file
// is kept too, so reading it reports the mistake. An entry that is not a
// regular file (a FIFO, a directory named x.hcl) is kept as well: reading
// it reports that, without blocking, as that entry's problem.
func DesiredFiles(names []string) []DesiredFile {
	var out []DesiredFile
	for _, name := range names {
		if info, err := os.Stat(name); err == nil && info.IsDir() {
			if matches, _ := filepath.Glob(filepath.Join(name, "*.hcl")); len(matches) > 0 {
				for _, m := range matches { // Glob sorts
					out = append(out, DesiredFile{Name: m, entry: true})
				}
				continue
			}
		}
		out = append(out, DesiredFile{Name: name})
	}
	return out
}

// DesiredFile is one file validate or fmt works on: a name given, or an
// entry of a directory given (entry).
type DesiredFile struct {
	Name  string
	entry bool
}

// Load loads the file under DefaultBudget. A directory given
// (DesiredFiles keeps one only when it has no *.hcl files) is refused as such;
// an entry that is not a regular file is refused by ReadFile.
func (f DesiredFile) Load(ctx context.Context) (*Host, []byte, hcl.Diagnostics, error) {
	if err := f.emptyDir(); err != nil {
		return nil, nil, nil, err
	}
	return LoadBudgeted(ctx, f.Name, DefaultBudget)
}

// Format formats the file as Load loads it.
func (f DesiredFile) Format(ctx context.Context) (src, formatted []byte, diags hcl.Diagnostics, err error) {
	if err := f.emptyDir(); err != nil {
		return nil, nil, nil, err
	}
	return FormatBudgeted(ctx, f.Name, DefaultBudget)
}

func (f DesiredFile) emptyDir() error {
	if f.entry {
		return nil
	}
	return notADesiredStateDir(f.Name)
}

func notADesiredStateDir(name string) error {
	if info, err := os.Stat(name); err == nil && info.IsDir() {
		return fmt.Errorf("read desired state: %s is a directory without *.hcl files", DisplayName(name))
	}
	return nil
}

// ReadDesiredState reads a file with ReadFile: a regular file, not read
// past the size bound; a directory is one without *.hcl files. Loading it
// should go through LoadBudgeted, which reads it too.
func ReadDesiredState(name string) ([]byte, error) {
	if err := notADesiredStateDir(name); err != nil {
		return nil, err
	}
	return ReadFile(name) // Load and Format report a file over the bound
}
