package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestEndpointUserinfoIsRefusedUnprinted checks that an endpoint carrying
// a user name and password is refused, and that the error shows the
// endpoint without them, however the password is spelled (one with '/' or
// '@' in it makes a URL parser see another host).
func TestEndpointUserinfoIsRefusedUnprinted(t *testing.T) {
	for _, endpoint := range []string{
		"https://root:s3cret-pw@pve.example.org:8006",
		"https://root:s3cret-pw@pve.example.org:8006/api2/json",
		"https://root:s3cr/et-pw@pve.example.org",
		"https://root:s3c@ret-pw@pve.example.org",
		"root:s3cret-pw@pve.example.org",
	} {
		_, err := Load(Sources{Getenv: env(
			"FELHOM_CONVERGE_PROXMOX_ENDPOINT", endpoint,
			"FELHOM_CONVERGE_PROXMOX_NODE", "pve",
			"FELHOM_CONVERGE_PROXMOX_TOKEN", testToken,
		)})
		if err == nil {
			t.Errorf("%s: accepted", endpoint)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "s3c") || strings.Contains(msg, "et-pw") || !strings.Contains(msg, "pve.example.org") {
			t.Errorf("%s: error %q shows the password or not the host", endpoint, msg)
		}
	}
}

// TestTokenFileThatIsNotAFile checks that a token file that is a FIFO is
// refused at once instead of waiting for a writer.
func TestTokenFileThatIsNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := readBounded(fifo, 1024)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v", err)
	}
}

// TestReadBoundedReadsItAll reads a file larger than one read returns.
func TestReadBoundedReadsItAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	want := strings.Repeat("x", 3<<20)
	if err := os.WriteFile(path, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readBounded(path, 4<<20)
	if err != nil || string(got) != want {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	if _, err := readBounded(path, 1<<20); err == nil {
		t.Error("a file over the bound was read")
	}
}
