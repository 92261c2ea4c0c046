package main

// Owned by the trust work (trust/): signature requests and verification.

type SignaturesCmd struct {
	Verify  SignaturesVerifyCmd  `cmd:"" help:"Check signed requests in a directory, or (with --raw) one signature like 'ssh-keygen -Y verify'."`
	Request SignaturesRequestCmd `cmd:"" help:"Write a canonical signature request for one step."`
}

type SignaturesVerifyCmd struct {
	SimFlag
	Signatures string `help:"Directory of <id>.req + <id>.req.sig pairs." placeholder:"DIR" type:"path"`
}

func (c *SignaturesVerifyCmd) Run() error { return notImplemented("signatures verify") }

type SignaturesRequestCmd struct {
	Op     string `required:"" help:"Operation, e.g. guest.destroy."`
	Guest  string `required:"" help:"Guest vmid."`
	Params string `default:"{}" help:"Step parameters as JSON."`
}

func (c *SignaturesRequestCmd) Run() error { return notImplemented("signatures request") }
