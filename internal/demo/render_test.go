package demo

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// BenchmarkRender measures building pages, without the simulated latency.
func BenchmarkRender(b *testing.B) {
	m := newModel(600000, 1)
	for _, c := range []struct {
		name   string
		render func(p *page, i int)
	}{
		{"event", func(p *page, i int) { m.renderEvent(p, 1+i%m.n[kindEvent]) }},
		{"person", func(p *page, i int) { m.renderPerson(p, 1+i%m.n[kindPerson]) }},
		{"topic", func(p *page, i int) { m.renderTopic(p, 1+i%m.n[kindTopic]) }},
		{"list", func(p *page, i int) { m.renderList(p, kindEvent, 1+i%m.listPages(kindEvent)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var bytes int
			i := 0
			for b.Loop() {
				p := getPage("")
				c.render(p, i)
				bytes += len(p.b)
				putPage(p)
				i += 7919
			}
			b.SetBytes(int64(bytes / max(1, i/7919)))
		})
	}
}

func TestRenderAllocs(t *testing.T) {
	m := newModel(600000, 1)
	p := getPage("")
	m.renderEvent(p, 1) // warm the buffers
	allocs := testing.AllocsPerRun(100, func() {
		p.b, p.keys, p.ids = p.b[:0], p.keys[:0], p.ids[:0]
		m.renderEvent(p, 42)
	})
	if allocs > 2 {
		t.Errorf("renderEvent allocates %.0f times", allocs)
	}
}

// TestEveryPage renders every detail page of small sites and checks each
// one's size and that its Surrogate-Key names exactly the rows it links.
func TestEveryPage(t *testing.T) {
	for _, pages := range []int{3, 3000} {
		m := newModel(pages, int64(pages))
		for i := range m.pages {
			kind, id := m.path(i)
			p := getPage("")
			switch kind {
			case kindEvent:
				m.renderEvent(p, id)
			case kindPerson:
				m.renderPerson(p, id)
			default:
				m.renderTopic(p, id)
			}
			rows, other := splitKeys(t, string(p.keys))
			if links := rowTags(string(p.b)); !slices.Equal(rows, links) || len(other) > 0 {
				t.Fatalf("%s%d: Surrogate-Key %q, body links %q", kindNames[kind].dir, id, p.keys, links)
			}
			if self := fmt.Sprintf("%s%d", kindNames[kind].tag, id); !strings.HasPrefix(string(p.keys), self+" ") &&
				string(p.keys) != self {
				t.Fatalf("%s%d: Surrogate-Key %q does not start with %s", kindNames[kind].dir, id, p.keys, self)
			}
			if n := len(p.b); n < pageTarget*3/4 || n > pageTarget*5/4 {
				t.Fatalf("%s%d: %d bytes", kindNames[kind].dir, id, n)
			}
			putPage(p)
		}
	}
}
