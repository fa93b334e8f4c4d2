//go:build !race

package pebblestate

const raceEnabled = false
