// Package storewire adapts the disk store (internal/store) to the
// interfaces the regeneration workers (invalidate.Queue) and the rolling
// sweep (sweep.Index) consume, which name their own types for what the
// store calls Claim and AgeEntry. It owns nothing else: `edge serve` and
// the benchmarks wire the same adapters.
package storewire

import (
	"fmt"
	"time"

	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/invalidate"
	"github.com/pregen/edge/sweep"
)

var (
	_ invalidate.Queue = Queue{}
	_ sweep.Index      = Ages{}
)

// Queue is the store's stale marks as an invalidate.Queue. Safe for
// concurrent use, as the store is.
type Queue struct{ Store *store.Store }

// Next claims up to max marks due at now.
func (q Queue) Next(now time.Time, max int) ([]invalidate.Claim, time.Time, error) {
	cs, wake, err := q.Store.Next(now, max)
	out := make([]invalidate.Claim, len(cs))
	for i, c := range cs {
		out[i] = invalidate.Claim(c)
	}
	return out, wake, err
}

// Settle ends a claim the way the verdict says.
func (q Queue) Settle(c invalidate.Claim, v invalidate.Verdict, notBefore time.Time) (bool, error) {
	sc := store.Claim(c)
	switch v {
	case invalidate.Done:
		return q.Store.Done(sc)
	case invalidate.Retry:
		return false, q.Store.Retry(sc, notBefore)
	case invalidate.Drop:
		return false, q.Store.Drop(sc)
	case invalidate.Release:
		q.Store.Release(sc)
		return false, nil
	}
	return false, fmt.Errorf("invalidate: unknown verdict %d", v)
}

// Ages is the store's age index as a sweep.Index. Safe for concurrent
// use, as the store is.
type Ages struct{ Store *store.Store }

// AgeRange lists up to max pages generated after after and before before,
// oldest first.
func (a Ages) AgeRange(after sweep.Entry, before time.Time, max int) ([]sweep.Entry, sweep.Entry, error) {
	es, next, err := a.Store.AgeRange(store.AgeEntry(after), before, max)
	out := make([]sweep.Entry, len(es))
	for i, e := range es {
		out[i] = sweep.Entry(e)
	}
	return out, sweep.Entry(next), err
}

// Pages is the number of stored pages.
func (a Ages) Pages() int64 { return a.Store.Stats().Pages }
