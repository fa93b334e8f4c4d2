package main

import "errors"

// serveCmd is the 'serve' subcommand (not built yet).
type serveCmd struct{}

// Run runs the subcommand.
func (c *serveCmd) Run() error { return errors.New("serve: not built yet") }
