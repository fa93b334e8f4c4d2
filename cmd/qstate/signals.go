package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// exitInterrupted is serve's exit status after a second signal: 128 +
// SIGINT, what a shell reports for a program stopped by Ctrl-C.
const exitInterrupted = 130

// notifyShutdown returns a context that ends at the first SIGINT or
// SIGTERM, when serve starts its graceful shutdown (stop accepting, let
// in-flight requests finish within --shutdown-timeout, flush, exit 0). A
// second signal calls exit(exitInterrupted) at once, after a line on
// stderr: an operator who will not wait for the shutdown need not reach
// for SIGKILL. stop gives the signals back to their default action and
// waits for the watching goroutine to end.
func notifyShutdown(stderr io.Writer, exit func(code int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			fmt.Fprintf(stderr, "qstate: second signal (%v) during shutdown: exiting at once\n", sig)
			exit(exitInterrupted)
		case <-done:
		}
	})
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			wg.Wait()
			cancel()
		})
	}
}
