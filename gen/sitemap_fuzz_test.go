package gen

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// FuzzSitemap feeds arbitrary bytes to the sitemap parser: it must never
// panic, never yield more entries than the (decompressed) input has <loc>
// elements or than its cap, and every entry it yields must be a non-empty,
// trimmed <loc> text no longer than MaxLocBytes. Seeds are in
// testdata/fuzz/FuzzSitemap (a valid index, a urlset, a gzip'd urlset,
// malformed and truncated files, a huge <loc>).
func FuzzSitemap(f *testing.F) {
	f.Add([]byte(urlset("http://a/1", "http://a/2")))
	f.Add([]byte(sitemapIndex("http://a/s1.xml")))
	f.Add([]byte(gzipped(urlset("http://a/1"))))
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxURLs = 100
		plain := in
		if len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(in))
			if err == nil {
				plain, _ = io.ReadAll(io.LimitReader(zr, 1<<20))
			}
		}
		locs := bytes.Count(plain, []byte("loc"))
		n := 0
		for it, err := range parseSitemap(bytes.NewReader(in), 1<<20, maxURLs) {
			if err != nil {
				continue
			}
			n++
			if it.Loc == "" || it.Loc != strings.TrimSpace(it.Loc) || len(it.Loc) > MaxLocBytes {
				t.Fatalf("bad entry %q", it.Loc)
			}
		}
		if n > locs/2 || n > maxURLs {
			t.Fatalf("%d entries from an input naming <loc> %d times", n, locs/2)
		}
	})
}
