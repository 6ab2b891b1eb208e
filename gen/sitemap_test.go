package gen

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge/internal/cachekey"
)

const (
	xmlHead = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	nsAttr  = `xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"`
)

func urlset(locs ...string) string {
	var b strings.Builder
	b.WriteString(xmlHead + "<urlset " + nsAttr + ">\n")
	for _, l := range locs {
		b.WriteString("<url><loc>" + l + "</loc><lastmod>2026-01-01</lastmod></url>\n")
	}
	b.WriteString("</urlset>\n")
	return b.String()
}

func sitemapIndex(locs ...string) string {
	var b strings.Builder
	b.WriteString(xmlHead + "<sitemapindex " + nsAttr + ">\n")
	for _, l := range locs {
		b.WriteString("<sitemap><loc>" + l + "</loc></sitemap>\n")
	}
	b.WriteString("</sitemapindex>\n")
	return b.String()
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

// collect reads a whole source into its URLs and its errors' texts.
func collect(src Source) (urls, errs []string) {
	for e, err := range src {
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		urls = append(urls, e.URL)
	}
	return urls, errs
}

func TestParseSitemap(t *testing.T) {
	for _, c := range []struct {
		name, in string
		max      int
		want     []string // locs, "index:" prefixed for an index's
		wantErr  string
	}{
		{name: "urlset", in: urlset("http://a/1", " http://a/2 \n", "http://a/?x=1&amp;y=2"),
			want: []string{"http://a/1", "http://a/2", "http://a/?x=1&y=2"}},
		{name: "index", in: sitemapIndex("http://a/s1.xml", "http://a/s2.xml.gz"),
			want: []string{"index:http://a/s1.xml", "index:http://a/s2.xml.gz"}},
		{name: "gzip", in: gzipped(urlset("http://a/1")), want: []string{"http://a/1"}},
		{name: "no namespace, CDATA", in: `<urlset><url><loc><![CDATA[http://a/1]]></loc></url></urlset>`,
			want: []string{"http://a/1"}},
		{name: "loc outside url ignored", in: `<urlset><loc>http://a/x</loc><url><image><loc>http://a/i.png</loc></image><loc>http://a/1</loc></url></urlset>`,
			want: []string{"http://a/1"}},
		{name: "malformed after one", in: "<urlset>\n<url><loc>http://a/1</loc></url>\n<url><loc>http://a/2</url>\n</urlset>",
			want: []string{"http://a/1"}, wantErr: "malformed XML at line 3"},
		{name: "truncated", in: "<urlset>\n<url><loc>http://a/1</loc></url>\n<url><loc>http://a/2",
			want: []string{"http://a/1"}, wantErr: "malformed XML at line 3"},
		{name: "html", in: "<!doctype html>\n<html><body>nope</body></html>", wantErr: "not a sitemap: root element <html>"},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "empty loc", in: urlset("", "http://a/1"), want: []string{"http://a/1"}, wantErr: "line 3: empty <loc>"},
		{name: "huge loc", in: urlset("http://a/"+strings.Repeat("x", MaxLocBytes), "http://a/1"),
			want: []string{"http://a/1"}, wantErr: "longer than 8192 bytes"},
		{name: "too many", in: urlset("http://a/1", "http://a/2", "http://a/3"), max: 2,
			want: []string{"http://a/1", "http://a/2"}, wantErr: "more than 2 entries"},
		{name: "latin1", in: `<?xml version="1.0" encoding="ISO-8859-1"?><urlset></urlset>`, wantErr: "ISO-8859-1"},
		{name: "bad gzip", in: "\x1f\x8b\x08garbage", wantErr: "gzip"},
		{name: "two roots", in: "<urlset></urlset><urlset><url><loc>http://a/1</loc></url></urlset>", wantErr: "after the root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			max := c.max
			if max == 0 {
				max = 50000
			}
			var got, errs []string
			for it, err := range parseSitemap(strings.NewReader(c.in), 1<<20, max) {
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				if it.Index {
					got = append(got, "index:"+it.Loc)
				} else {
					got = append(got, it.Loc)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("locs %q, want %q", got, c.want)
			}
			switch {
			case c.wantErr == "" && len(errs) > 0:
				t.Errorf("errors %q", errs)
			case c.wantErr != "" && (len(errs) != 1 || !strings.Contains(errs[0], c.wantErr)):
				t.Errorf("errors %q, want one containing %q", errs, c.wantErr)
			}
		})
	}
}

func TestParseSitemapSizeCap(t *testing.T) {
	big := urlset(strings.Split(strings.Repeat("http://a/x ", 1000), " ")[:1000]...)
	for name, in := range map[string]string{"plain": big, "gzip": gzipped(big)} {
		var errs []string
		n := 0
		for _, err := range parseSitemap(strings.NewReader(in), 4096, 50000) {
			if err != nil {
				errs = append(errs, err.Error())
			} else {
				n++
			}
		}
		if len(errs) != 1 || !strings.Contains(errs[0], "larger than 4096 bytes") || n >= 1000 {
			t.Errorf("%s: %d urls, errors %q; want stopped at the cap", name, n, errs)
		}
	}
}

func TestParseSitemapLines(t *testing.T) {
	in := "<urlset>\n\n<url>\n<loc>http://a/1</loc>\n</url>\n<url><loc>http://a/2</loc></url>\n</urlset>"
	var lines []int
	for it, err := range parseSitemap(strings.NewReader(in), 1<<20, 10) {
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, it.Line)
	}
	if fmt.Sprint(lines) != "[4 6]" {
		t.Errorf("lines %v, want [4 6]", lines)
	}
}

// siteServer serves sitemaps from a map of path → body ("HOST" replaced by
// the request's Host; gzip'd when the path ends in .gz) and records the
// Host header of each request.
type siteServer struct {
	*httptest.Server
	mu    sync.Mutex
	hosts map[string]string // path → Host of the last request
	fwd   map[string]string // path → X-Forwarded-Host
}

func newSiteServer(t *testing.T, files map[string]string) *siteServer {
	s := &siteServer{hosts: map[string]string{}, fwd: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hosts[r.URL.Path] = r.Host
		s.fwd[r.URL.Path] = r.Header.Get("X-Forwarded-Host")
		s.mu.Unlock()
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body = strings.ReplaceAll(body, "HOST", r.Host)
		if strings.HasSuffix(r.URL.Path, ".gz") {
			body = gzipped(body)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestSitemapsIndexCarriesOnPastBadChildren(t *testing.T) {
	files := map[string]string{
		"/sitemap.xml": sitemapIndex("http://HOST/s1.xml", "http://HOST/missing.xml", "http://HOST/s2.xml.gz",
			"http://HOST/bad.xml", "http://HOST/nested.xml"),
		"/s1.xml":     urlset("http://HOST/a", "http://HOST/b"),
		"/s2.xml.gz":  urlset("http://HOST/c"), // served gzip'd
		"/bad.xml":    "<urlset><url><loc>http://HOST/d</loc></url><url>",
		"/nested.xml": sitemapIndex("http://HOST/s1.xml"),
	}
	srv := newSiteServer(t, files)
	sm := &Sitemaps{TempDir: t.TempDir()}
	urls, errs := collect(sm.Source(t.Context(), srv.URL+"/sitemap.xml"))
	host := strings.TrimPrefix(srv.URL, "http://")
	want := []string{"/a", "/b", "/c", "/d", "/a", "/b"}
	for i := range want {
		want[i] = "http://" + host + want[i]
	}
	if strings.Join(urls, " ") != strings.Join(want, " ") {
		t.Errorf("urls %q, want %q", urls, want)
	}
	if len(errs) != 2 || !strings.Contains(errs[0], srv.URL+"/missing.xml") || !strings.Contains(errs[0], "404") ||
		!strings.Contains(errs[1], srv.URL+"/bad.xml") {
		t.Errorf("errors %q; want the missing and the malformed sitemap named", errs)
	}
	if ents, _ := os.ReadDir(sm.TempDir); len(ents) != 0 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestSitemapsDepthLimit(t *testing.T) {
	files := map[string]string{
		"/0.xml": sitemapIndex("http://HOST/1.xml"),
		"/1.xml": sitemapIndex("http://HOST/2.xml"),
		"/2.xml": sitemapIndex("http://HOST/3.xml"),
		"/3.xml": urlset("http://HOST/deep"),
	}
	srv := newSiteServer(t, files)
	sm := &Sitemaps{MaxDepth: 3}
	urls, errs := collect(sm.Source(t.Context(), srv.URL+"/0.xml"))
	if len(urls) != 0 || len(errs) != 1 || !strings.Contains(errs[0], "/3.xml") || !strings.Contains(errs[0], "nested") {
		t.Errorf("urls %q errors %q", urls, errs)
	}
	sm.MaxDepth = 4
	if urls, errs = collect(sm.Source(t.Context(), srv.URL+"/0.xml")); len(urls) != 1 || len(errs) != 0 {
		t.Errorf("depth 4: urls %q errors %q", urls, errs)
	}
}

func TestSitemapsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/sitemap.xml"
	srv.Close()
	_, errs := collect((&Sitemaps{}).Source(t.Context(), url))
	if len(errs) != 1 || !strings.Contains(errs[0], url) || !strings.Contains(errs[0], "unreachable") {
		t.Errorf("errors %q", errs)
	}
}

func TestSitemapsTooLargeDownload(t *testing.T) {
	srv := newSiteServer(t, map[string]string{"/big.xml": urlset(strings.Repeat("http://a/x", 2000))})
	_, errs := collect((&Sitemaps{MaxBytes: 1000}).Source(t.Context(), srv.URL+"/big.xml"))
	if len(errs) != 1 || !strings.Contains(errs[0], "larger than 1000 bytes") {
		t.Errorf("errors %q", errs)
	}
}

// TestSitemapsFetchedFromTheOrigin: a sitemap on the site's host (or the
// origin's own) is fetched from the origin with the canonical Host, so the
// origin writes the site's public URLs, and its children are too.
func TestSitemapsFetchedFromTheOrigin(t *testing.T) {
	files := map[string]string{
		"/sitemap.xml":     sitemapIndex("http://HOST/sitemaps/1.xml"),
		"/sitemaps/1.xml":  urlset("http://HOST/events/1"),
		"/other/index.xml": urlset("http://HOST/x"),
	}
	srv := newSiteServer(t, files)
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{"www.site.test", "site.test"}})
	if err != nil {
		t.Fatal(err)
	}
	sm := &Sitemaps{Origin: srv.URL, Keys: keys}
	for _, start := range []string{srv.URL + "/sitemap.xml", "http://site.test/sitemap.xml"} {
		urls, errs := collect(sm.Source(t.Context(), start))
		if strings.Join(urls, " ") != "http://www.site.test/events/1" || len(errs) != 0 {
			t.Errorf("from %s: urls %q errors %q", start, urls, errs)
		}
		for _, p := range []string{"/sitemap.xml", "/sitemaps/1.xml"} {
			if srv.hosts[p] != "www.site.test" || srv.fwd[p] != "www.site.test" {
				t.Errorf("%s fetched with Host %q, X-Forwarded-Host %q", p, srv.hosts[p], srv.fwd[p])
			}
		}
	}
	// Without an origin, the URL is fetched as given.
	urls, _ := collect((&Sitemaps{Keys: keys}).Source(t.Context(), srv.URL+"/other/index.xml"))
	if len(urls) != 1 || !strings.HasPrefix(urls[0], srv.URL) {
		t.Errorf("urls %q", urls)
	}
}

func TestSitemapsLocalFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sitemap.xml", sitemapIndex("maps/1.xml.gz", "maps/2.xml"))
	write("maps/1.xml.gz", gzipped(urlset("/a", "/b")))
	write("maps/2.xml", urlset("/c"))
	urls, errs := collect((&Sitemaps{}).Source(context.Background(), filepath.Join(dir, "sitemap.xml")))
	if strings.Join(urls, " ") != "/a /b /c" || len(errs) != 0 {
		t.Errorf("urls %q errors %q", urls, errs)
	}
	_, errs = collect((&Sitemaps{}).Source(context.Background(), filepath.Join(dir, "nope.xml")))
	if len(errs) != 1 || !strings.Contains(errs[0], "nope.xml") {
		t.Errorf("errors %q", errs)
	}
}

func TestURLList(t *testing.T) {
	in := "# urls\n/a\r\n\n   \nhttp://x/b  \n" + strings.Repeat("y", MaxLineBytes+10) + "\n/c\n#/d\n/e"
	var got []string
	for e, err := range URLList(strings.NewReader(in), "list.txt") {
		if err != nil {
			got = append(got, "error "+err.Error())
			continue
		}
		got = append(got, e.Where()+" "+e.URL)
	}
	want := []string{
		"list.txt:2 /a",
		"list.txt:5 http://x/b",
		fmt.Sprintf("error gen: list.txt:6: line longer than %d bytes", MaxLineBytes),
		"list.txt:7 /c",
		"list.txt:9 /e",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n, err := Count(context.Background(), URLList(strings.NewReader(in), "x")); n != 4 || err != nil {
		t.Errorf("Count = %d, %v", n, err)
	}
}

func TestJournal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs")
	id := RunID("a", "b")
	if id == RunID("ab") || id == RunID("a", "b", "") || id != RunID("a", "b") {
		t.Fatal("RunID does not separate its arguments")
	}
	j, err := OpenJournal(dir, id, "desc", testNow)
	if err != nil || j.Resumed || !j.Started.Equal(testNow) {
		t.Fatalf("%+v, %v", j, err)
	}
	j2, err := OpenJournal(dir, id, "desc", testNow.Add(time.Hour))
	if err != nil || !j2.Resumed || !j2.Started.Equal(testNow) {
		t.Fatalf("reopened: %+v, %v", j2, err)
	}
	if err := j2.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := j2.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	// A damaged journal starts a new run rather than failing.
	if err := os.WriteFile(filepath.Join(dir, id), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	j3, err := OpenJournal(dir, id, "desc", testNow.Add(time.Hour))
	if err != nil || j3.Resumed || !j3.Started.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("damaged: %+v, %v", j3, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files in the journal dir: %v", ents)
	}
	if _, err := OpenJournal(dir, "../x", "", testNow); err == nil {
		t.Error("a run id with a path was accepted")
	}
}
