//go:build race

package bufpool

// poison is on in race-detector builds: Put overwrites what it files.
const poison = true
