package metrics

import (
	"errors"
	"fmt"
	"math"
)

// DefaultBuckets are the upper bounds, in seconds, of
// qstate_request_duration_seconds: from 5 µs (a heap look-up answered
// inline takes a few) to 10 s (a forwarded request at its client's
// timeout), about three per decade, so that quantiles stay within a factor
// of 2.5 wherever the latency lies.
var DefaultBuckets = []float64{
	0.000005, 0.00001, 0.000025, 0.00005,
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// Config configures a Metrics. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// Buckets are the upper bounds, in seconds, of the request latency
	// histogram: increasing, positive and finite (+Inf is implicit). nil
	// means DefaultBuckets.
	Buckets []float64

	// NoRuntime leaves out the Go runtime, process and build-info
	// collectors (go_*, process_*, go_build_info), which are registered
	// by default.
	NoRuntime bool
}

// withDefaults returns a copy of c with every zero field set to its
// default. Buckets are copied, so the caller may reuse its slice.
func (c Config) withDefaults() Config {
	if c.Buckets == nil {
		c.Buckets = DefaultBuckets
	}
	c.Buckets = append([]float64(nil), c.Buckets...)
	return c
}

// Validate reports every problem of c (after defaults) in one error; each
// wraps ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Buckets) == 0 {
		errs = append(errs, fmt.Errorf("%w: Buckets is empty", ErrConfig))
	}
	for i, b := range c.Buckets {
		switch {
		case math.IsNaN(b) || math.IsInf(b, 0) || b <= 0:
			errs = append(errs, fmt.Errorf("%w: Buckets[%d] = %v is not a positive finite number of seconds", ErrConfig, i, b))
		case i > 0 && b <= c.Buckets[i-1]:
			errs = append(errs, fmt.Errorf("%w: Buckets[%d] = %v is not above Buckets[%d] = %v", ErrConfig, i, b, i-1, c.Buckets[i-1]))
		}
	}
	return errors.Join(errs...)
}
