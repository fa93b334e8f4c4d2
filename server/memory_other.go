//go:build !linux && !darwin

package server

// machineMemory is the machine's memory in bytes, 0 if unknown (here:
// the default budget assumes 4 GiB).
func machineMemory() int64 { return 0 }
