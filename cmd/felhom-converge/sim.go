package main

// 'sim serve': the flags of the simulator in proxmox/pvesim, which also
// runs in-process behind every command's --sim flag.

import (
	"context"
	"errors"
	"time"

	"github.com/felhom/felhom-converge/proxmox/pvesim"
)

type SimCmd struct {
	Serve SimServeCmd `cmd:"" help:"Serve the Proxmox VE API simulator on loopback until interrupted."`
}

type SimServeCmd struct {
	Listen       string        `default:"127.0.0.1:8006" help:"Loopback address to listen on; port 0 picks a free port."`
	State        string        `type:"path" help:"JSON file holding the simulated host; created with the default seed if absent (default: in memory only)." placeholder:"FILE"`
	TLS          bool          `name:"tls" xor:"transport" help:"Serve HTTPS with the state's self-signed certificate (the default)."`
	PlainHTTP    bool          `name:"plain-http" xor:"transport" help:"Serve plain HTTP instead of HTTPS."`
	Latency      time.Duration `default:"0s" help:"Delay added to every request."`
	Workers      int           `default:"3" help:"Requests served at once, like pveproxy's worker pool (0: unbounded)."`
	TaskDuration time.Duration `default:"200ms" help:"How long every worker task runs (0: tasks finish at once)."`
	Guests       int           `default:"0" help:"Seed this many extra guests (vmid 1000 up) into a new state."`
	ResourcesLag time.Duration `default:"10s" help:"How long /cluster/resources lags behind new guests, starts and stops, like pvestatd's cache (0: no lag)."`
	EnvFile      string        `type:"path" help:"Also write the connection settings to FILE (mode 0600) once serving." placeholder:"FILE"`
	Admin        bool          `help:"Serve the fault-injection endpoints under /_sim/ (they need a simulator token and a loopback Host)."`
	Token        string        `default:"converge" enum:"converge,readonly" help:"Seeded API token to print: converge (the tool's role) or readonly (VM.Audit, Datastore.Audit, Sys.Audit)."`
	PVEVersion   string        `name:"pve-version" placeholder:"X.Y" env:"FELHOM_CONVERGE_SIM_PVE_VERSION" help:"Proxmox VE release to play: 8.4 or 9.1 (a new state: 8.4; an existing state keeps its own unless this switches it)."`
}

func (c *SimServeCmd) Run(ctx context.Context, g *globals) error {
	err := pvesim.Serve(ctx, pvesim.ServeOptions{
		Listen: c.Listen, State: c.State, PlainHTTP: c.PlainHTTP, Latency: c.Latency, Workers: c.Workers,
		TaskDuration: c.TaskDuration, Guests: c.Guests, ResourcesLag: c.ResourcesLag, Admin: c.Admin,
		Token: c.Token, EnvFile: c.EnvFile, PVEVersion: c.PVEVersion,
	}, g.stdout)
	var listen *pvesim.ListenError
	switch {
	case errors.Is(err, pvesim.ErrNotLoopback):
		return withHint(err, "the simulator's token is a throwaway secret; it only listens on 127.0.0.1 or [::1]")
	case errors.As(err, &listen):
		return withHint(err, "--listen 127.0.0.1:0 picks a free port")
	}
	return err
}
