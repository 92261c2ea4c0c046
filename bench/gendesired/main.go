// Command gendesired writes a desired-state file that matches a live host
// exactly (see package matching), for benchmarks:
//
//	go run ./bench/gendesired -out desired.hcl   # connection from FELHOM_CONVERGE_PROXMOX_*
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/felhom/felhom-converge/bench/internal/matching"
	"github.com/felhom/felhom-converge/proxmox"
)

func main() {
	out := flag.String("out", "desired.hcl", "file to write")
	host := flag.String("host", "pve-demo", "host name of the desired state")
	flag.Parse()
	if err := run(*out, *host); err != nil {
		fmt.Fprintln(os.Stderr, "gendesired:", err)
		os.Exit(1)
	}
}

func run(out, host string) error {
	token, err := proxmox.ParseToken(os.Getenv("FELHOM_CONVERGE_PROXMOX_TOKEN"))
	if err != nil {
		return err
	}
	c, err := proxmox.New(proxmox.Options{
		Endpoint:    os.Getenv("FELHOM_CONVERGE_PROXMOX_ENDPOINT"),
		Node:        os.Getenv("FELHOM_CONVERGE_PROXMOX_NODE"),
		Token:       token,
		Fingerprint: os.Getenv("FELHOM_CONVERGE_PROXMOX_TLS_FINGERPRINT"),
		Concurrency: 8,
	})
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := matching.Write(context.Background(), f, c, host); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
