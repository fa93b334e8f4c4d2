package main

import "errors"

// benchCmd is the 'bench' subcommand (not built yet).
type benchCmd struct{}

// Run runs the subcommand.
func (c *benchCmd) Run() error { return errors.New("bench: not built yet") }
