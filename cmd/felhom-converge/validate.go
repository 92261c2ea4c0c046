package main

// Owned by the desired-state work (schema/): validate and fmt.

type ValidateCmd struct {
	Files []string `arg:"" help:"Desired-state HCL files." type:"path"`
	JSON  bool     `help:"Print diagnostics as JSON."`
}

func (c *ValidateCmd) Run() error { return notImplemented("validate") }

type FmtCmd struct {
	Files []string `arg:"" help:"Desired-state HCL files to rewrite in place." type:"path"`
	Check bool     `help:"Do not write; exit 1 when a file is not in canonical form."`
	Diff  bool     `help:"Print a diff of the changes."`
}

func (c *FmtCmd) Run() error { return notImplemented("fmt") }
