package registry

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Key-group bounds, as Flink's KeyGroupRangeAssignment.
const (
	// DefaultMaxParallelism is the number of key groups of an operator whose
	// max parallelism was not set and whose parallelism is at most 85.
	DefaultMaxParallelism = 128
	// MaxParallelismUpperBound is the largest max parallelism Flink allows (1 << 15).
	MaxParallelismUpperBound = 1 << 15
)

// KeyGroupRange is a range of key groups, both ends inclusive, as Flink's
// KeyGroupRange.
type KeyGroupRange struct {
	Start, End int
}

// NumKeyGroups is the number of key groups in r (0 for an empty range).
func (r KeyGroupRange) NumKeyGroups() int { return max(0, r.End-r.Start+1) }

// Contains reports whether key group kg is in r.
func (r KeyGroupRange) Contains(kg int) bool { return kg >= r.Start && kg <= r.End }

// String formats r as Flink's KeyGroupRange.toString does.
func (r KeyGroupRange) String() string {
	return fmt.Sprintf("KeyGroupRange{startKeyGroup=%d, endKeyGroup=%d}", r.Start, r.End)
}

// ParseKeyGroupRange parses the text form of a key-group range that the
// cluster file, etcd keys and the --key-groups flag use: "start-end" (both
// inclusive) or one key group, with spaces allowed around each number. ok
// is false when s is not of that form; a range that is reversed or beyond
// a max parallelism is the caller's to refuse.
func ParseKeyGroupRange(s string) (r KeyGroupRange, ok bool) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return KeyGroupRange{}, false
	}
	return KeyGroupRange{Start: a, End: b}, true
}

func (r KeyGroupRange) overlaps(o KeyGroupRange) bool { return r.Start <= o.End && o.Start <= r.End }

// Murmur is Flink's MathUtils.murmurHash: murmur3's mix of one 4-byte block
// (seed 0, length 4) and finalizer, made non-negative (MinInt32 gives 0).
func Murmur(hash int32) int32 {
	c := uint32(hash)
	c *= 0xcc9e2d51
	c = bits.RotateLeft32(c, 15)
	c *= 0x1b873593
	c = bits.RotateLeft32(c, 13)
	c = c*5 + 0xe6546b64
	c ^= 4
	c ^= c >> 16
	c *= 0x85ebca6b
	c ^= c >> 13
	c *= 0xc2b2ae35
	c ^= c >> 16
	switch h := int32(c); {
	case h >= 0:
		return h
	case h != -1<<31:
		return -h
	default:
		return 0
	}
}

// KeyGroupForHash is the key group of a key whose Java hashCode is hash
// (Flink's computeKeyGroupForKeyHash): Murmur(hash) % maxParallelism.
// maxParallelism must be positive.
func KeyGroupForHash(hash int32, maxParallelism int) int {
	return int(Murmur(hash)) % maxParallelism
}

// OperatorIndex is the index of the parallel operator instance that owns
// keyGroup (Flink's computeOperatorIndexForKeyGroup).
func OperatorIndex(maxParallelism, parallelism, keyGroup int) int {
	return keyGroup * parallelism / maxParallelism
}

// KeyGroupRangeFor is the key-group range of operator instance
// operatorIndex (Flink's computeKeyGroupRangeForOperatorIndex). It panics,
// as Flink throws, unless 0 < parallelism <= maxParallelism <=
// MaxParallelismUpperBound and 0 <= operatorIndex < parallelism.
func KeyGroupRangeFor(maxParallelism, parallelism, operatorIndex int) KeyGroupRange {
	if parallelism <= 0 || maxParallelism < parallelism || maxParallelism > MaxParallelismUpperBound ||
		operatorIndex < 0 || operatorIndex >= parallelism {
		panic(fmt.Sprintf("registry: KeyGroupRangeFor(maxParallelism %d, parallelism %d, operator %d): out of range",
			maxParallelism, parallelism, operatorIndex))
	}
	return KeyGroupRange{
		Start: (operatorIndex*maxParallelism + parallelism - 1) / parallelism,
		End:   ((operatorIndex+1)*maxParallelism - 1) / parallelism,
	}
}

// DefaultMaxParallelismFor is the max parallelism Flink picks for an
// operator of the given parallelism (computeDefaultMaxParallelism):
// roundUpToPowerOfTwo(p + p/2) clamped to [128, 32768].
func DefaultMaxParallelismFor(parallelism int) int {
	n := parallelism + parallelism/2
	p := 1
	for p < n {
		p <<= 1
	}
	return min(max(p, DefaultMaxParallelism), MaxParallelismUpperBound)
}
