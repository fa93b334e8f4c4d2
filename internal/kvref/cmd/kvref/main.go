// Command kvref runs the reference server of package kvref (gnet + one ants
// task per wake-up, answering the synthetic dataset from a Go map, or with
// -flat from a flat array) until SIGINT or SIGTERM:
//
//	go run ./internal/kvref/cmd/kvref -addr 127.0.0.1:9069 -keys 100000 -value-size 8 [-flat]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qstate/qstate/internal/kvref"
)

func main() {
	var cfg kvref.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:9069", "listen address host:port")
	flag.IntVar(&cfg.Keys, "keys", 100000, "keys 0..keys-1 of the synthetic dataset")
	flag.IntVar(&cfg.ValueSize, "value-size", 8, "value size in bytes")
	flag.BoolVar(&cfg.Flat, "flat", false, "answer from a flat array indexed by the int key (a lower bound) instead of a Go map")
	flag.IntVar(&cfg.EventLoops, "event-loops", 0, "gnet event loops (0: one per CPU)")
	flag.IntVar(&cfg.PoolSize, "pool", 0, "ants workers (0: 1024)")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "kvref:", err)
		os.Exit(1)
	}
}

func run(cfg kvref.Config) error {
	s, err := kvref.New(cfg)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	go func() {
		<-s.Ready()
		if a := s.Addr(); a != nil {
			fmt.Fprintf(os.Stderr, "kvref: listening on %s (keys %d, %d B values, flat %v, pid %d)\n",
				a, cfg.Keys, cfg.ValueSize, cfg.Flat, os.Getpid())
		}
	}()
	if err := s.Serve(); !errors.Is(err, kvref.ErrServerClosed) {
		return err
	}
	return nil
}
