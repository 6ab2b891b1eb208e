package proxy

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// doorkeeper decides which disk hits are worth a copy in memory: a page
// is promoted on its second disk hit within a window of disk hits
// (TinyLFU's doorkeeper: a Bloom filter cleared every window lookups).
// A crawler walking more pages than memory holds then costs one file read
// per request and never churns the memory tier, while a page asked for
// again soon is served from memory from then on. Safe for concurrent use;
// racing updates only blur the filter a little.
type doorkeeper struct {
	seed   maphash.Seed
	mask   uint64 // bit index mask: len(words)*64 - 1
	words  []atomic.Uint64
	window int64
	added  atomic.Int64 // lookups since the filter was cleared
}

// defaultPromoteWindow is the doorkeeper's window when none is set.
const defaultPromoteWindow = 1 << 16

func newDoorkeeper(window int) *doorkeeper {
	if window <= 0 {
		window = defaultPromoteWindow
	}
	// About 16 bits per entry: with two probes, under 1 % false positives
	// when full.
	n := uint64(1) << bits.Len64(uint64(window)*16-1)
	if n < 64 {
		n = 64
	}
	return &doorkeeper{
		seed:   maphash.MakeSeed(),
		mask:   n - 1,
		words:  make([]atomic.Uint64, n/64),
		window: int64(window),
	}
}

// again reports whether key was seen within the window, and records it
// when it was not.
func (d *doorkeeper) again(key []byte) bool {
	h := maphash.Bytes(d.seed, key)
	i, j := h&d.mask, (h>>32|h<<32)&d.mask
	wi, bi := &d.words[i>>6], uint64(1)<<(i&63)
	wj, bj := &d.words[j>>6], uint64(1)<<(j&63)
	seen := wi.Load()&bi != 0 && wj.Load()&bj != 0
	if !seen {
		wi.Or(bi)
		wj.Or(bj)
	}
	if d.added.Add(1) >= d.window {
		d.added.Store(0)
		for k := range d.words {
			d.words[k].Store(0)
		}
	}
	return seen
}
