package main

import "errors"

// queryCmd is the 'query' subcommand (not built yet).
type queryCmd struct{}

// Run runs the subcommand.
func (c *queryCmd) Run() error { return errors.New("query: not built yet") }
