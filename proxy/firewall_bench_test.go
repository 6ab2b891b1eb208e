package proxy

import (
	"context"
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// The miss path with the firewall on: benchmarks of each admission policy
// and the miss rate check, and a test that they allocate nothing beyond
// what a miss already does.

// nullMemory and nullStore hold nothing, so every request is a miss.
type nullMemory struct{}

func (nullMemory) Get([]byte) (*edge.Page, bool)                          { return nil, false }
func (nullMemory) Set(*edge.Page) bool                                    { return true }
func (nullMemory) SetTTL(*edge.Page, time.Duration) bool                  { return true }
func (nullStore) Get(key string) (*edge.Page, error)                      { return nil, edge.ErrNotFound }
func (nullStore) GetVariant(string, bool, bool) (*edge.Page, error)       { return nil, edge.ErrNotFound }
func (nullStore) Watch(string) bool                                       { return true }
func (fixedGen) Generate(context.Context, edge.Fill) (edge.Result, error) { return fixedResult, nil }

type (
	nullStore struct{}
	fixedGen  struct{}
)

var fixedResult = edge.Result{Page: newPage("/page", "<html>a generated page</html>"), Cacheable: true}

// allKnown knows every key.
type allKnown struct{}

func (allKnown) Known(string) bool { return true }

// missHarness is a server on which every request is a miss answered at
// once by fixedGen, with reusable request templates for n distinct keys.
func missHarness(tb testing.TB, pol Policy, n int) (*Server, []*fasthttp.Request) {
	h := newHarness(tb, &pol)
	h.s.Memory, h.s.Store, h.s.Generator, h.s.Known = nullMemory{}, nullStore{}, fixedGen{}, allKnown{}
	reqs := make([]*fasthttp.Request, n)
	for i := range reqs {
		reqs[i] = request{uri: fmt.Sprintf("/page/%d", i), header: hdr("Accept-Encoding: gzip, br")}.build()
	}
	return h.s, reqs
}

var missPolicies = []struct {
	name string
	pol  Policy
}{
	{"always", Policy{}},
	{"second-hit", Policy{Admit: AdmitSecondHit}},
	{"known", Policy{Admit: AdmitKnown}},
	{"second-hit+rate", Policy{Admit: AdmitSecondHit, MissRate: 1e12, MissBurst: 1 << 30}},
}

// BenchmarkMiss serves misses of 4096 keys in turn (each generated at once
// by a fake) under each admission policy, and with the miss rate check.
func BenchmarkMiss(b *testing.B) {
	for _, mp := range missPolicies {
		b.Run(mp.name, func(b *testing.B) {
			s, reqs := missHarness(b, mp.pol, 4096)
			ctx := new(fasthttp.RequestCtx)
			ctx.Init(reqs[0], clientAddr, nil)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				reqs[i%len(reqs)].CopyTo(&ctx.Request)
				ctx.Response.Reset()
				s.Handler(ctx)
				i++
			}
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		})
	}
}

// TestFirewallAddsNoAllocations: a miss under second-hit, known, or with
// the miss rate on allocates no more than a miss under always.
func TestFirewallAddsNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race")
	}
	allocs := map[string]float64{}
	for _, mp := range missPolicies {
		s, reqs := missHarness(t, mp.pol, 64)
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(reqs[0], clientAddr, nil)
		i := 0
		serve := func() {
			reqs[i%len(reqs)].CopyTo(&ctx.Request)
			ctx.Response.Reset()
			s.Handler(ctx)
			i++
		}
		for range 2 * len(reqs) { // warm up: tables allocated, buffers grown
			serve()
		}
		allocs[mp.name] = testing.AllocsPerRun(2000, serve)
	}
	for name, n := range allocs {
		if n > allocs["always"] {
			t.Errorf("a miss under %s allocates %v times, under always %v", name, n, allocs["always"])
		}
	}
	t.Logf("allocations per miss: %v", allocs)
}

// BenchmarkFirewallChecks measures the two checks alone: a second-hit
// observation of a key (hash included) and a client's token take.
func BenchmarkFirewallChecks(b *testing.B) {
	fw := new(firewall)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("/events/%d?page=2", i)
	}
	now := testNow.UnixNano()
	b.Run("second-hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			fw.seenTable().observe(maphash.String(fw.hashSeed(), keys[i%len(keys)]), now, int64(time.Minute))
			i++
		}
	})
	b.Run("miss-rate", func(b *testing.B) {
		ip := clientAddr.IP
		b.ReportAllocs()
		for b.Loop() {
			fw.limiter().take(clientHash(fw.hashSeed(), ip), now, 1e12, 1<<30)
		}
	})
}
