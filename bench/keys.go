package bench

import (
	"math"
	"math/rand/v2"
	"slices"
)

// keyDist is the shared, read-only part of a key distribution.
type keyDist struct {
	n   int
	cdf []float64 // Zipf only: cdf[k] = P(key <= k); nil for uniform
}

// newKeyDist precomputes the distribution. Zipf with exponent s gives key
// k the weight 1/(k+1)^s, any s > 0 (math/rand's Zipf needs s > 1, and
// YCSB's customary 0.99 is below that).
func newKeyDist(n int, d Dist, s float64) *keyDist {
	kd := &keyDist{n: n}
	if d != Zipf {
		return kd
	}
	kd.cdf = make([]float64, n)
	sum := 0.0
	for k := 0; k < n; k++ {
		sum += math.Pow(float64(k+1), -s)
		kd.cdf[k] = sum
	}
	for k := range kd.cdf {
		kd.cdf[k] /= sum
	}
	kd.cdf[n-1] = 1
	return kd
}

// keyGen draws keys for one connection; it is not safe for concurrent use.
type keyGen struct {
	dist *keyDist
	rng  *rand.Rand
}

func newKeyGen(d *keyDist, seed, stream uint64) keyGen {
	return keyGen{dist: d, rng: rand.New(rand.NewPCG(seed, stream))}
}

// next returns a key in 0..n-1. It does not allocate.
func (g *keyGen) next() int {
	if g.dist.cdf == nil {
		return g.rng.IntN(g.dist.n)
	}
	k, _ := slices.BinarySearch(g.dist.cdf, g.rng.Float64())
	if k >= g.dist.n {
		k = g.dist.n - 1
	}
	return k
}
