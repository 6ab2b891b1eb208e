package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
)

// Fixed asks for path every time (the hot scenario).
func Fixed(path string) PathFunc {
	return func(dst []byte, _ uint64, _ *rand.Rand) []byte { return append(dst, path...) }
}

// Seq asks for prefix+(start+i): every request a distinct page, in order
// (a crawler walking new pages).
func Seq(prefix string, start uint64) PathFunc {
	return func(dst []byte, i uint64, _ *rand.Rand) []byte {
		return strconv.AppendUint(append(dst, prefix...), start+i, 10)
	}
}

// Uniform asks for prefix+k with k uniform in [lo, hi] (a crawler walking
// stored pages in random order).
func Uniform(prefix string, lo, hi uint64) PathFunc {
	if hi < lo {
		lo, hi = hi, lo
	}
	span := hi - lo + 1
	return func(dst []byte, _ uint64, r *rand.Rand) []byte {
		return strconv.AppendUint(append(dst, prefix...), lo+r.Uint64N(span), 10)
	}
}

// Zipf asks for prefix+k, k in [1, n]: with probability share one of the
// first hot pages, page k weighing 1/k^s; otherwise one of the other n-hot
// pages, uniformly. It is the distribution of bench/wrk/zipf.lua.
func Zipf(prefix string, n, hot uint64, share, s float64) (PathFunc, error) {
	if n == 0 || hot == 0 || share < 0 || share > 1 || s < 0 || math.IsNaN(share) || math.IsNaN(s) {
		return nil, fmt.Errorf("loadgen: bad zipf parameters n=%d hot=%d share=%g s=%g", n, hot, share, s)
	}
	hot = min(hot, n)
	cdf := make([]float64, hot) // cdf[k-1]: probability that a hot pick is one of pages 1..k
	var total float64
	for k := uint64(1); k <= hot; k++ {
		total += 1 / math.Pow(float64(k), s)
	}
	var acc float64
	for k := uint64(1); k <= hot; k++ {
		acc += 1 / math.Pow(float64(k), s) / total
		cdf[k-1] = acc
	}
	cdf[hot-1] = 1
	return func(dst []byte, _ uint64, r *rand.Rand) []byte {
		var page uint64
		if hot >= n || r.Float64() < share {
			u := r.Float64()
			page = uint64(sort.SearchFloat64s(cdf, u)) + 1 // the first k with cdf ≥ u
		} else {
			page = hot + 1 + r.Uint64N(n-hot)
		}
		return strconv.AppendUint(append(dst, prefix...), page, 10)
	}, nil
}
