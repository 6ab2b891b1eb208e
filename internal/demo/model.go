package demo

import (
	"math/bits"
	"slices"
	"time"
)

// Row kinds. They index model.n and salt every hash, so each kind of row
// draws its content from its own stream.
const (
	kindEvent = iota
	kindPerson
	kindTopic
	kindCount = 3
)

// kindNames are the path segments and Surrogate-Key prefixes of each kind.
var kindNames = [kindCount]struct{ dir, tag string }{
	{"/events/", "event-"},
	{"/people/", "person-"},
	{"/topics/", "topic-"},
}

const (
	maxSpeakers  = 6  // speakers per event: 2..6
	maxTopics    = 3  // topics per event: 1..3
	relatedLimit = 50 // most events a person or topic page lists
)

// Dates are day numbers counted from firstDay. Events span five years around
// today, the fixed "now" of the site (the article's date), so pages never
// depend on the wall clock.
var (
	firstDay = time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	today    = int(time.Date(2008, 8, 16, 0, 0, 0, 0, time.UTC).Sub(firstDay).Hours() / 24)
)

const eventSpanDays = 5 * 365

// model holds the sizes of the three tables and the relations between them.
// Relations are affine maps modulo a table size, so both directions are cheap
// to compute: an event's speakers by applying the maps, a person's events by
// inverting them. A model is immutable after newModel and safe for concurrent
// use.
type model struct {
	seed     uint64
	pages    int
	n        [kindCount]int      // rows per kind
	speakers [maxSpeakers]affine // event index → person index
	topics   [maxTopics]affine   // event index → topic index
}

func newModel(pages int, seed int64) *model {
	var n [kindCount]int
	n[kindTopic] = max(1, pages*5/100)
	n[kindPerson] = max(1, pages*35/100)
	n[kindEvent] = pages - n[kindTopic] - n[kindPerson]
	return newModelSized(n, seed)
}

// newModelSized builds a model with n rows of each kind (each at least 1).
func newModelSized(n [kindCount]int, seed int64) *model {
	m := &model{seed: mix(uint64(seed)), n: n}
	for _, k := range n {
		m.pages += k
	}
	r := rng(mix(m.seed ^ 0x5eed))
	for j := range m.speakers {
		m.speakers[j] = newAffine(uint64(m.n[kindPerson]), &r)
	}
	for j := range m.topics {
		m.topics[j] = newAffine(uint64(m.n[kindTopic]), &r)
	}
	return m
}

// path returns the kind and 1-based id of the i-th URL in sitemap order:
// events, then people, then topics.
func (m *model) path(i int) (kind, id int) {
	for kind = range kindCount {
		if i < m.n[kind] {
			return kind, i + 1
		}
		i -= m.n[kind]
	}
	panic("demo: URL index out of range")
}

// eventCounts returns how many speakers and topics event id has.
func (m *model) eventCounts(id int) (speakers, topics int) {
	h := m.hash(kindEvent+16, id)
	return 2 + int(h%5), 1 + int(h>>8%3)
}

// eventSpeakers appends the distinct person ids speaking at event id.
func (m *model) eventSpeakers(dst []int, id int) []int {
	ns, _ := m.eventCounts(id)
	return related(dst, m.speakers[:ns], id)
}

// eventTopics appends the distinct topic ids of event id.
func (m *model) eventTopics(dst []int, id int) []int {
	_, nt := m.eventCounts(id)
	return related(dst, m.topics[:nt], id)
}

func related(dst []int, maps []affine, id int) []int {
	start := len(dst)
	for _, f := range maps {
		y := int(f.apply(uint64(id-1))) + 1
		if !slices.Contains(dst[start:], y) {
			dst = append(dst, y)
		}
	}
	return dst
}

// personEvents appends the ids of the events person id speaks at, newest
// (highest id) first, at most relatedLimit of them.
func (m *model) personEvents(dst []int, id int) []int {
	return m.inverse(dst, m.speakers[:], id, func(e int) int { n, _ := m.eventCounts(e); return n })
}

// topicEvents appends the ids of the events of topic id, newest first, at
// most relatedLimit of them.
func (m *model) topicEvents(dst []int, id int) []int {
	return m.inverse(dst, m.topics[:], id, func(e int) int { _, n := m.eventCounts(e); return n })
}

// inverse finds every event whose j-th relation (j < used(event)) maps to id,
// counting an event once: only at the first j that names id, as related does.
func (m *model) inverse(dst []int, maps []affine, id int, used func(event int) int) []int {
	start := len(dst)
	y := uint64(id - 1)
	for j, f := range maps {
		for x := range f.preimages(y, uint64(m.n[kindEvent])) {
			e := int(x) + 1
			if j >= used(e) || firstMatch(maps[:j], x, y) {
				continue
			}
			dst = append(dst, e)
		}
	}
	found := dst[start:]
	slices.SortFunc(found, func(a, b int) int { return b - a })
	if len(found) > relatedLimit {
		dst = dst[:start+relatedLimit]
	}
	return dst
}

func firstMatch(maps []affine, x, y uint64) bool {
	for _, f := range maps {
		if f.apply(x) == y {
			return true
		}
	}
	return false
}

// hash returns a well-mixed 64-bit value for (kind, id) under the site seed.
func (m *model) hash(kind, id int) uint64 {
	return mix(m.seed ^ uint64(kind)<<56 ^ uint64(id)*0x9e3779b97f4a7c15)
}

// rows returns the content stream for row (kind, id).
func (m *model) rows(kind, id int) rng {
	return rng(m.hash(kind, id))
}

// lastmod is the day row (kind, id) last changed, within two years before
// today.
func (m *model) lastmod(kind, id int) int {
	return today - int(m.hash(kind+32, id)%730)
}

// affine is the bijection x → (a·x + b) mod m on [0, m), with inv = a⁻¹ mod m.
type affine struct{ a, b, inv, m uint64 }

func newAffine(m uint64, r *rng) affine {
	a := r.next() % m
	for gcd(a, m) != 1 {
		a = (a + 1) % m
	}
	return affine{a: a, b: r.next() % m, inv: modInverse(a, m), m: m}
}

func (f affine) apply(x uint64) uint64 {
	return (mulmod(f.a, x%f.m, f.m) + f.b) % f.m
}

// preimages yields every x < n with apply(x) == y, in increasing order.
func (f affine) preimages(y, n uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		for x := mulmod(f.inv, (y+f.m-f.b)%f.m, f.m); x < n; x += f.m {
			if !yield(x) {
				return
			}
		}
	}
}

func mulmod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return bits.Rem64(hi, lo, m)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// modInverse returns a⁻¹ mod m for gcd(a, m) == 1 (0 when m == 1).
func modInverse(a, m uint64) uint64 {
	if m == 1 {
		return 0
	}
	t, newT := int64(0), int64(1)
	r, newR := int64(m), int64(a)
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if t < 0 {
		t += int64(m)
	}
	return uint64(t)
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// rng is a splitmix64 stream: deterministic, tiny and allocation-free.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	return mix(uint64(*r))
}

// intn returns a value in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// pick returns a random element of s.
func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }
