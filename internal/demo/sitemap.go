package demo

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"strconv"

	"github.com/valyala/fasthttp"
)

// MaxSitemapURLs is the most <loc> entries one sitemap file lists: the limit
// of the sitemaps.org protocol.
const MaxSitemapURLs = 50000

const sitemapNS = "http://www.sitemaps.org/schemas/sitemap/0.9"

// sitemaps returns how many sitemap files the index points at.
func (s *Site) sitemaps() int { return (s.model.pages + MaxSitemapURLs - 1) / MaxSitemapURLs }

// sitemapNumber recognises /sitemap.xml (0) and /sitemaps/{n}.xml (n, from 1).
func (s *Site) sitemapNumber(path []byte) (int, bool) {
	if string(path) == "/sitemap.xml" {
		return 0, true
	}
	rest, ok := bytes.CutPrefix(path, []byte("/sitemaps/"))
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutSuffix(rest, []byte(".xml"))
	if n := parseID(rest); ok && n >= 1 && n <= s.sitemaps() {
		return n, true
	}
	return 0, false
}

// serveSitemap serves the sitemap index (n == 0) or sitemap n. URLs are
// absolute, on http and the request's Host. A sitemap is tagged with the
// lists it enumerates rather than with its 50,000 rows.
func (s *Site) serveSitemap(ctx *fasthttp.RequestCtx, n int) {
	if !getOrHead(ctx) {
		return
	}
	var base bytes.Buffer
	base.WriteString("http://")
	host := ctx.Host()
	if len(host) == 0 {
		host = []byte("localhost")
	}
	_ = xml.EscapeText(&base, host) // a bytes.Buffer does not fail
	prefix := base.Bytes()

	ctx.SetContentType("application/xml; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
	m := s.model
	first, end := 0, m.pages
	if n > 0 {
		first = (n - 1) * MaxSitemapURLs
		end = min(first+MaxSitemapURLs, m.pages)
	}
	keys := []byte("sitemap")
	lo, _ := m.path(first)
	hi, _ := m.path(end - 1)
	for kind := lo; kind <= hi; kind++ {
		keys = append(append(keys, ' '), listTags[kind]...)
	}
	ctx.Response.Header.SetBytesV("Surrogate-Key", keys)

	if n == 0 {
		b := []byte(xml.Header + "<sitemapindex xmlns=\"" + sitemapNS + "\">\n")
		for i := 1; i <= s.sitemaps(); i++ {
			b = append(b, "<sitemap><loc>"...)
			b = append(b, prefix...)
			b = append(b, "/sitemaps/"...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ".xml</loc><lastmod>"...)
			b = appendISODate(b, today)
			b = append(b, "</lastmod></sitemap>\n"...)
		}
		ctx.SetBody(append(b, "</sitemapindex>\n"...))
		return
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		w.WriteString(xml.Header + "<urlset xmlns=\"" + sitemapNS + "\">\n")
		b := make([]byte, 0, 256)
		for i := first; i < end; i++ {
			kind, id := m.path(i)
			b = append(b[:0], "<url><loc>"...)
			b = append(b, prefix...)
			b = append(b, kindNames[kind].dir...)
			b = strconv.AppendInt(b, int64(id), 10)
			b = append(b, "</loc><lastmod>"...)
			b = appendISODate(b, m.lastmod(kind, id))
			b = append(b, "</lastmod></url>\n"...)
			if _, err := w.Write(b); err != nil {
				return // the client went away
			}
		}
		w.WriteString("</urlset>\n")
	})
}
