package registry

import (
	"testing"

	"github.com/qstate/qstate/internal/vectors"
)

func be32(b []byte) int32 {
	return int32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
}

// TestVectorsKeyGroup: java_hash -> murmur -> key groups for 128 and
// 32768 key groups (the hash itself is checked against the key in
// state's TestVectorsKeyGroupHashCode).
func TestVectorsKeyGroup(t *testing.T) {
	for _, v := range vectors.MustKind(t, "key_group") {
		t.Run(v.Name, func(t *testing.T) {
			h := int32(v.Int("java_hash"))
			if got, want := Murmur(h), int32(v.Int("murmur_hash")); got != want {
				t.Errorf("Murmur(%d) = %d, want %d", h, got, want)
			}
			for _, n := range []int{128, 32768} {
				want := int(v.Int(map[int]string{128: "key_group_128", 32768: "key_group_32768"}[n]))
				if got := KeyGroupForHash(h, n); got != want {
					t.Errorf("KeyGroupForHash(%d, %d) = %d, want %d", h, n, got, want)
				}
			}
		})
	}
}

func TestVectorsMurmurHash(t *testing.T) {
	for _, v := range vectors.MustKind(t, "murmur_hash") {
		t.Run(v.Name, func(t *testing.T) {
			in := int32(v.Int("input"))
			if b := v.Hex("input_hex"); be32(b) != in {
				t.Fatalf("input_hex %x != input %d", b, in)
			}
			want := int32(v.Int("output"))
			if b := v.Hex("output_hex"); be32(b) != want {
				t.Fatalf("output_hex %x != output %d", b, want)
			}
			if got := Murmur(in); got != want {
				t.Errorf("Murmur(%d) = %d, want %d", in, got, want)
			}
			if got := KeyGroupForHash(in, 128); got != int(v.Int("key_group_128")) {
				t.Errorf("KeyGroupForHash(%d, 128) = %d, want %d", in, got, v.Int("key_group_128"))
			}
			if got := KeyGroupForHash(in, 32768); got != int(v.Int("key_group_32768")) {
				t.Errorf("KeyGroupForHash(%d, 32768) = %d, want %d", in, got, v.Int("key_group_32768"))
			}
		})
	}
}

func TestVectorsKeyGroupRange(t *testing.T) {
	for _, v := range vectors.MustKind(t, "key_group_range") {
		t.Run(v.Name, func(t *testing.T) {
			maxP, p, op := int(v.Int("max_parallelism")), int(v.Int("parallelism")), int(v.Int("operator_index"))
			want := KeyGroupRange{int(v.Int("start_key_group")), int(v.Int("end_key_group"))}
			if got := KeyGroupRangeFor(maxP, p, op); got != want {
				t.Errorf("KeyGroupRangeFor(%d, %d, %d) = %v, want %v", maxP, p, op, got, want)
			}
			// computeOperatorIndexForKeyGroup maps both ends back.
			for _, kg := range []int{want.Start, want.End} {
				if got := OperatorIndex(maxP, p, kg); got != op {
					t.Errorf("OperatorIndex(%d, %d, %d) = %d, want %d", maxP, p, kg, got, op)
				}
			}
		})
	}
}

// TestProtocolHashTable checks the murmur, key group (128) and operator
// (parallelism 4) columns of PROTOCOL.md §5.5 from its hashCode column.
func TestProtocolHashTable(t *testing.T) {
	for _, c := range []struct {
		key           string
		hash, murmur  int32
		keyGroup, op4 int
	}{
		{`"hello"`, 99162322, 1715862179, 35, 1},
		{`""`, 0, 593689054, 94, 2},
		{`"a"`, 97, 1455541201, 81, 2},
		{`"query-name"`, -214515600, 1230464778, 10, 0},
		{`"ü"`, 252, 1206438057, 41, 1},
		{`"€"`, 8364, 520806086, 70, 2},
		{`"😀"`, 1772899, 1934073014, 54, 1},
		{"Integer 42", 42, 1134849565, 29, 0},
		{"Integer -7", -7, 206585249, 33, 1},
		{"Long 1", 1, 68075478, 86, 2},
		{"Long -1", 0, 593689054, 94, 2},
		{"Boolean true", 1231, 1090530765, 77, 2},
		{"Boolean false", 1237, 1530821891, 3, 0},
		{"Double 1.5", 1073217536, 1684538177, 65, 2},
		{"Double -0.0", -2147483648, 1718298732, 108, 3},
		{"Double NaN", 2146959360, 1585394089, 41, 1},
		{"Float 1.5", 1069547520, 376679366, 70, 2},
		{"Short/Byte -1", -1, 1982413648, 80, 2},
		{"Character 'A'", 65, 743412968, 104, 3},
	} {
		if got := Murmur(c.hash); got != c.murmur {
			t.Errorf("%s: murmur %d, want %d", c.key, got, c.murmur)
		}
		kg := KeyGroupForHash(c.hash, DefaultMaxParallelism)
		if kg != c.keyGroup {
			t.Errorf("%s: key group %d, want %d", c.key, kg, c.keyGroup)
		}
		if got := OperatorIndex(DefaultMaxParallelism, 4, kg); got != c.op4 {
			t.Errorf("%s: operator %d, want %d", c.key, got, c.op4)
		}
	}
	if got := KeyGroupForHash(3008, 128); got != 29 { // Tuple2("a",1L)
		t.Errorf("Tuple2(a,1L): key group %d, want 29", got)
	}
}

// TestProtocolKeyGroupExamples checks the examples of PROTOCOL.md §6.1.
func TestProtocolKeyGroupExamples(t *testing.T) {
	for in, want := range map[int32]int32{0: 593689054, 1: 68075478, -1: 1982413648, -1 << 31: 1718298732, 1<<31 - 1: 1653689534} {
		if got := Murmur(in); got != want {
			t.Errorf("Murmur(%d) = %d, want %d", in, got, want)
		}
	}
	for p, want := range map[int][]KeyGroupRange{
		2: {{0, 63}, {64, 127}},
		3: {{0, 42}, {43, 85}, {86, 127}},
		4: {{0, 31}, {32, 63}, {64, 95}, {96, 127}},
	} {
		for i, w := range want {
			if got := KeyGroupRangeFor(128, p, i); got != w {
				t.Errorf("p=%d operator %d: %v, want %v", p, i, got, w)
			}
		}
	}
	for p, want := range map[int]int{1: 128, 85: 128, 86: 256, 1000: 2048, 32768: 32768} {
		if got := DefaultMaxParallelismFor(p); got != want {
			t.Errorf("DefaultMaxParallelismFor(%d) = %d, want %d", p, got, want)
		}
	}
}
