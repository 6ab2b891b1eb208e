package store

import (
	"fmt"
	"testing"
)

const benchPageSize = 16 << 10

func BenchmarkGet(b *testing.B) {
	s := newTestStore(b, Options{NoSync: true})
	const pages = 100
	for i := range pages {
		mustPut(b, s, testPage(fmt.Sprintf("/bench/%d", i), benchPageSize, "v", "t"))
	}
	b.SetBytes(benchPageSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(fmt.Sprintf("/bench/%d", i%pages)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetVariant(b *testing.B) {
	s := newTestStore(b, Options{NoSync: true})
	const pages = 100
	for i := range pages {
		mustPut(b, s, testPage(fmt.Sprintf("/bench/%d", i), benchPageSize, "v", "t"))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GetVariant(fmt.Sprintf("/bench/%d", i%pages), true, true); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPut(b *testing.B) {
	for _, noSync := range []bool{true, false} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			s := newTestStore(b, Options{NoSync: noSync})
			const pages = 100
			b.SetBytes(benchPageSize)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// A new version each time: the full write path.
				p := testPage(fmt.Sprintf("/bench/%d", i%pages), benchPageSize, fmt.Sprint("v", i), "t")
				if _, err := s.Put(p); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
