package main

type SelftestCmd struct {
	SimFlag
	Task bool `help:"Also exercise a reversible task on guest --vmid: snapshot, roll back to it, delete it."`
	VMID int  `help:"Guest for --task." placeholder:"N"`
}

func (c *SelftestCmd) Run() error { return notImplemented("selftest") }
