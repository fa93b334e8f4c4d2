package configcheck

import (
	"errors"
	"fmt"
)

// Problems collects the problems of one configuration. The zero value is
// not usable: call New.
type Problems struct {
	sentinel error
	errs     []error
}

// New returns an empty Problems whose problems wrap sentinel (the
// package's ErrConfig).
func New(sentinel error) *Problems { return &Problems{sentinel: sentinel} }

// Addf records the problem fmt.Errorf(format, args...), prefixed with and
// wrapping the sentinel: "<sentinel>: <problem>". format may use %w.
func (p *Problems) Addf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%w: "+format, append([]any{p.sentinel}, args...)...))
}

// Add records err as the problem of field: "<sentinel>: <field>: <err>",
// wrapping both.
func (p *Problems) Add(field string, err error) {
	p.errs = append(p.errs, fmt.Errorf("%w: %s: %w", p.sentinel, field, err))
}

// AddWrapped records err as it is, for a check whose errors already wrap
// the sentinel (a parser the package also uses elsewhere).
func (p *Problems) AddWrapped(err error) { p.errs = append(p.errs, err) }

// Err returns every problem recorded, joined (errors.Join), or nil when
// there is none.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// NonNegative records "<field> <v> is negative" when v is below zero (a
// count, a size or a time.Duration, whose zero means "the default").
func NonNegative[T ~int | ~int32 | ~int64](p *Problems, field string, v T) {
	if v < 0 {
		p.Addf("%s %v is negative", field, v)
	}
}
