//go:build !race

package bufpool

// poison is off in normal builds: Put costs no more than a pool store.
const poison = false
