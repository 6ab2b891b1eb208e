package demo

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestSitemaps(t *testing.T) {
	const pages = 2*MaxSitemapURLs + 20001 // three sitemaps, the last partial
	site := newTestSite(Config{Pages: pages})
	ts := serve(t, site)

	r := ts.get(t, "/sitemap.xml")
	if r.status != 200 || r.header["Content-Type"] != "application/xml; charset=utf-8" {
		t.Fatalf("GET /sitemap.xml: %d %q", r.status, r.header["Content-Type"])
	}
	var index struct {
		XMLName  xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 sitemapindex"`
		Sitemaps []struct {
			Loc     string `xml:"loc"`
			Lastmod string `xml:"lastmod"`
		} `xml:"sitemap"`
	}
	if err := xml.Unmarshal([]byte(r.body), &index); err != nil {
		t.Fatalf("sitemap index: %v", err)
	}
	if len(index.Sitemaps) != 3 {
		t.Fatalf("sitemap index lists %d sitemaps, want 3", len(index.Sitemaps))
	}

	var locs []string
	for i, sm := range index.Sitemaps {
		path, ok := strings.CutPrefix(sm.Loc, "http://demo.test")
		if !ok || sm.Lastmod == "" {
			t.Fatalf("sitemap %d: loc %q lastmod %q", i, sm.Loc, sm.Lastmod)
		}
		r := ts.get(t, path)
		if r.status != 200 {
			t.Fatalf("GET %s: status %d", path, r.status)
		}
		var set struct {
			XMLName xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
			URLs    []struct {
				Loc     string `xml:"loc"`
				Lastmod string `xml:"lastmod"`
			} `xml:"url"`
		}
		if err := xml.Unmarshal([]byte(r.body), &set); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if n := len(set.URLs); n == 0 || n > MaxSitemapURLs {
			t.Errorf("GET %s: %d URLs", path, n)
		}
		for _, u := range set.URLs {
			if len(u.Lastmod) != len("2008-08-16") {
				t.Fatalf("GET %s: %s has lastmod %q", path, u.Loc, u.Lastmod)
			}
			locs = append(locs, u.Loc)
		}
		if got := site.Renders(path); got != 1 {
			t.Errorf("Renders(%s) = %d, want 1", path, got)
		}
	}

	i := 0
	for p := range site.URLs {
		if i >= len(locs) || locs[i] != "http://demo.test"+p {
			t.Fatalf("sitemap URL %d: %q, want %q", i, locs[min(i, len(locs)-1)], p)
		}
		i++
	}
	if i != len(locs) || i != pages {
		t.Errorf("sitemaps list %d URLs, URLs yields %d, Pages is %d", len(locs), i, pages)
	}
}

func TestSitemapEscapesHost(t *testing.T) {
	ts := serve(t, newTestSite(Config{Pages: 10}))
	r := ts.get(t, "/sitemaps/1.xml", "Host: a&b")
	var set struct {
		URLs []struct {
			Loc string `xml:"loc"`
		} `xml:"url"`
	}
	if err := xml.Unmarshal([]byte(r.body), &set); err != nil {
		t.Fatalf("%v in %q", err, r.body)
	}
	if len(set.URLs) != 10 || set.URLs[0].Loc != "http://a&b/events/1" {
		t.Errorf("got %d URLs, first %+v", len(set.URLs), set.URLs[0])
	}
}
