package main

// Owned by the simulator work (proxmox/pvesim): 'sim serve' and the
// in-process simulator behind every command's --sim flag.

import (
	"context"
	"errors"
)

type SimCmd struct {
	Serve SimServeCmd `cmd:"" help:"Serve the Proxmox VE API simulator on loopback until interrupted."`
}

type SimServeCmd struct{}

func (c *SimServeCmd) Run() error { return notImplemented("sim serve") }

// embeddedSim is a simulator running in this process for --sim DIR.
type embeddedSim struct {
	Endpoint    string // https://127.0.0.1:PORT
	Node        string
	Token       string // USER@REALM!TOKENID=SECRET of the full-privilege token
	Fingerprint string // SHA-256 of the leaf certificate, colon-separated hex
	Close       func() error
}

// startEmbeddedSim starts the simulator with its state in dir/host.json.
func startEmbeddedSim(ctx context.Context, dir string) (*embeddedSim, error) {
	return nil, errors.New("the bundled simulator is not implemented yet")
}
