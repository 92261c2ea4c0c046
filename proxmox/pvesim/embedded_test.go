package pvesim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/felhom/felhom-converge/proxmox"
	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

// TestEmbeddedSim: the --sim DIR simulator serves HTTPS on loopback with
// the converge token, pinned by its fingerprint, and keeps its state in
// DIR/host.json across restarts.
func TestEmbeddedSim(t *testing.T) {
	dir := t.TempDir() + "/sim"
	ctx := context.Background()
	es, err := pvesim.StartEmbedded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(es.Endpoint, "https://127.0.0.1:") || es.Node != "pve" || !strings.HasPrefix(es.Token, "felhom@pve!converge=") {
		t.Fatalf("embedded sim %s node %s", es.Endpoint, es.Node)
	}
	tok, err := proxmox.ParseToken(es.Token)
	if err != nil {
		t.Fatal(err)
	}
	c, err := proxmox.New(proxmox.Options{Endpoint: es.Endpoint, Node: es.Node, Token: tok, Fingerprint: es.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	upid, err := c.Start(ctx, 110)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTask(ctx, upid, proxmox.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	fp := es.Fingerprint
	if err := es.Close(); err != nil {
		t.Fatal(err)
	}
	es2, err := pvesim.StartEmbedded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer es2.Close()
	if es2.Fingerprint != fp || es2.Token != es.Token {
		t.Fatal("fingerprint or token changed across restarts of the same DIR")
	}
	c2, err := proxmox.New(proxmox.Options{Endpoint: es2.Endpoint, Node: es2.Node, Token: tok, Fingerprint: es2.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c2.GuestStatus(ctx, 110)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "running" {
		t.Errorf("CT 110 is %q after restart, want running", st.Status)
	}
}
