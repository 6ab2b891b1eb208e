package demo

import (
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
