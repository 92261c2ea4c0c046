package main

import (
	"errors"
	"fmt"
)

// Commands whose capability lands in a later part of the project (plan,
// apply and journal, operations). Their flags are declared now so the
// interface is visible in --help; running them says so plainly.

var errNotImplemented = errors.New("not implemented yet")

func notImplemented(cmd string) error {
	return withHint(fmt.Errorf("%s: %w", cmd, errNotImplemented),
		"this command arrives with a later release; 'felhom-converge validate' and 'felhom-converge selftest' work today")
}

type StatusCmd struct {
	SimFlag
}

func (c *StatusCmd) Run() error { return notImplemented("status") }
