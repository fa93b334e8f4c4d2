// Package configcheck holds what the Validate methods of the packages'
// Config structs share: a Problems list that collects every problem found
// (so that Validate reports them all at once, in one error), each problem
// wrapping the package's config sentinel (its ErrConfig) and naming the
// field, and the checks several Configs make alike (NonNegative).
//
// A Problems belongs to the one Validate call that made it; it is not safe
// for concurrent use. It keeps no byte slices.
package configcheck
