package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/felhom/felhom-converge/config"
	"github.com/felhom/felhom-converge/trust"
)

// Token reads the optional bearer token: from file (--token-file, or
// FELHOM_CONVERGE_HUB_TOKEN_FILE) when one is named, which wins as an
// explicit flag does, else from FELHOM_CONVERGE_HUB_TOKEN, else from the
// systemd credential. It is never printed, and errors never quote it.
func Token(getenv func(string) string, file string) (config.Secret, error) {
	origin := "--token-file"
	if file == "" {
		if v := strings.TrimSpace(getenv("FELHOM_CONVERGE_HUB_TOKEN")); v != "" {
			return config.NewSecret(v), nil
		}
		dir := getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return config.Secret{}, nil
		}
		file, origin = filepath.Join(dir, CredentialName), "$CREDENTIALS_DIRECTORY/"+CredentialName
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return config.Secret{}, nil
		}
	}
	b, err := trust.ReadRegular(file, 4096) // not through a link, not blocking on a FIFO
	if err != nil {
		return config.Secret{}, fmt.Errorf("hub token (%s): %w", origin, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return config.Secret{}, fmt.Errorf("hub token (%s): %s is empty", origin, file)
	}
	return config.NewSecret(v), nil
}

// Kept says which file stays in place after a failed pull of dest.
func Kept(dest string) string {
	if _, err := os.Stat(dest); errors.Is(err, fs.ErrNotExist) {
		return "no desired state yet at " + dest
	}
	return "kept the last good " + dest
}
