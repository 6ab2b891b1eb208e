package proxy

import (
	"hash/maphash"
	"math"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The limiter's shape: limitShards × limitSets × limitWays token buckets
// of 24 bytes (1.5 MiB for 65,536 clients, allocated on first use).
const (
	limitShards = 64
	limitSets   = 256
	limitWays   = 4
)

// limiter is the second half of the miss firewall: a token bucket of
// misses per client. Clients are keyed by a hash of their address (an
// IPv4 address, or the /64 of an IPv6 one, since one host may hold a whole
// /64). The table has a fixed size: a client's hash picks a shard (with
// its own lock) and a set of limitWays buckets in it, kept in order of use, and a
// new client replaces the bucket of its set that was used least recently. A client
// that keeps missing keeps its bucket; a replaced, idle one starts again
// with a full bucket. Safe for concurrent use.
type limiter struct {
	shards [limitShards]limitShard
}

type limitShard struct {
	mu   sync.Mutex // protects sets
	sets [limitSets][limitWays]tokenBucket
	_    [64]byte // keep neighbouring shards' locks off one cache line
}

// tokenBucket is one client's allowance: tokens left at the time at
// (Unix nanoseconds of its last miss; 0 marks a free bucket).
type tokenBucket struct {
	h      uint64
	tokens float64
	at     int64
}

// take spends one token of the client hashed to h at now, refilling at
// rate per second up to burst. When none is left it reports false and how
// long until one is.
func (l *limiter) take(h uint64, now int64, rate float64, burst int) (ok bool, wait time.Duration) {
	sh := &l.shards[h%limitShards]
	set := &sh.sets[(h/limitShards)%limitSets]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range set {
		b := set[i]
		if b.at == 0 || b.h != h {
			continue
		}
		if elapsed := now - b.at; elapsed > 0 {
			b.tokens = math.Min(float64(burst), b.tokens+float64(elapsed)*rate/1e9)
			b.at = now
		}
		if b.tokens >= 1 {
			b.tokens--
			ok = true
		} else {
			wait = time.Duration((1 - b.tokens) / rate * 1e9)
		}
		copy(set[1:i+1], set[:i]) // most recently used first
		set[0] = b
		return ok, wait
	}
	// A new client replaces the least recently used bucket (the last).
	copy(set[1:], set[:limitWays-1])
	set[0] = tokenBucket{h: h, tokens: float64(burst) - 1, at: now}
	return true, 0
}

// clientHash hashes the part of a client address that identifies a client:
// the 4 bytes of IPv4, the first 8 (the /64) of IPv6.
func clientHash(seed maphash.Seed, ip net.IP) uint64 {
	if v4 := ip.To4(); v4 != nil {
		return maphash.Bytes(seed, v4)
	}
	if len(ip) == net.IPv6len {
		return maphash.Bytes(seed, ip[:8])
	}
	return maphash.Bytes(seed, ip)
}

// limitMiss takes one miss from the client's allowance, or returns an
// error wrapping ErrMissRateLimited with the seconds until it may miss
// again. It allows everything when the policy sets no rate.
func (s *Server) limitMiss(ctx *fasthttp.RequestCtx, pol *Policy) error {
	if pol.MissRate <= 0 {
		return nil
	}
	h := clientHash(s.fw.hashSeed(), ctx.RemoteIP())
	ok, wait := s.fw.limiter().take(h, s.now().UnixNano(), pol.MissRate, pol.MissBurst)
	if ok {
		return nil
	}
	s.stats.rateLimited.Add(1)
	return &limitedError{retryAfter: max(1, int(math.Ceil(wait.Seconds())))}
}
