package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/qstate/qstate/dataset"
)

// preloadBatch is how many SETs Preload pipelines before reading their replies.
const preloadBatch = 512

// Preload stores the synthetic dataset in a RESP server: SET key:<i> to
// the ValueSize synthetic bytes of i, for every i in 0..Keys-1, pipelined
// in batches on one connection. Every reply must be +OK. Run calls it when
// Config.Preload is set; it is exported for scripts and tests that load
// once and run several times.
func Preload(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if cfg.Protocol != RESP {
		return fmt.Errorf("%w: preload needs the RESP protocol", ErrConfig)
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPreload, err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	r := bufio.NewReader(nc)
	var buf, key, val []byte
	set := []byte("SET")
	for start := 0; start < cfg.Keys; start += preloadBatch {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrPreload, err)
		}
		end := min(start+preloadBatch, cfg.Keys)
		buf = buf[:0]
		for i := start; i < end; i++ {
			key = respKey(key[:0], i)
			val = dataset.SyntheticValue(val[:0], i, cfg.ValueSize)
			buf = appendRESPCommand(buf, set, key, val)
		}
		_ = nc.SetDeadline(time.Now().Add(cfg.Timeout))
		if _, err := nc.Write(buf); err != nil {
			return fmt.Errorf("%w: %w", ErrPreload, err)
		}
		for i := start; i < end; i++ {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return fmt.Errorf("%w: reply to SET key:%d: %w", ErrPreload, i, err)
			}
			if !bytes.Equal(line, []byte("+OK\r\n")) {
				return fmt.Errorf("%w: reply to SET key:%d: %q", ErrPreload, i, bytes.TrimSpace(line))
			}
		}
	}
	return nil
}
