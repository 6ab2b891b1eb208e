package gen

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// dropped lists response headers edge never replays from a stored or
// passed-through page: hop-by-hop headers, framing, validators and dates
// edge computes itself, and the dependency-tag headers it consumes.
var dropped = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Proxy-Authenticate": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Content-Type": true, "Content-Encoding": true,
	"Date": true, "Etag": true, "Last-Modified": true, "Age": true,
	"Vary": true, "Server": true, "Accept-Ranges": true,
	"Surrogate-Key": true, "Xkey": true, "Cache-Tag": true, "Surrogate-Control": true,
	"X-Cache": true, "Cache-Status": true,
}

// Tags returns the dependency tags named by Surrogate-Key (space-separated),
// xkey and Cache-Tag (comma-separated), de-duplicated in order.
func Tags(h *fasthttp.ResponseHeader) []string {
	var tags []string
	seen := map[string]bool{}
	add := func(v []byte, seps string) {
		for _, t := range strings.FieldsFunc(string(v), func(r rune) bool { return strings.ContainsRune(seps, r) }) {
			if !seen[t] && len(t) <= 256 {
				seen[t] = true
				tags = append(tags, t)
			}
		}
	}
	for k, v := range h.All() {
		switch {
		case strings.EqualFold(string(k), "Surrogate-Key"):
			add(v, " \t")
		case strings.EqualFold(string(k), "Xkey"), strings.EqualFold(string(k), "Cache-Tag"):
			add(v, ", \t")
		}
	}
	return tags
}

// buildPage copies a response out of fasthttp's buffers into an immutable
// Page. pass keeps Set-Cookie (a pass-through copy for one requester).
func buildPage(key string, resp *fasthttp.Response, now time.Time, pass bool) *edge.Page {
	h := &resp.Header
	h.SetNoDefaultContentType(true) // an absent Content-Type stays absent
	p := &edge.Page{
		Key:         key,
		Status:      resp.StatusCode(),
		ContentType: string(h.ContentType()),
		Body:        bytes.Clone(resp.Body()),
		GeneratedAt: now,
		Tags:        Tags(h),
	}
	if p.Body == nil {
		p.Body = []byte{}
	}
	if pass {
		p.ContentType = string(h.ContentType())
		if ce := h.ContentEncoding(); len(ce) > 0 {
			p.Header = append(p.Header, edge.Field{Name: "Content-Encoding", Value: string(ce)})
		}
	}
	for k, v := range h.All() {
		name := string(k)
		if dropped[name] || (!pass && name == "Set-Cookie") {
			continue
		}
		p.Header = append(p.Header, edge.Field{Name: name, Value: string(v)})
	}
	sum := sha256.Sum256(p.Body)
	p.ETag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return p
}

// compressible reports whether a content type benefits from compression.
func compressible(ct string) bool {
	ct, _, _ = strings.Cut(strings.ToLower(ct), ";")
	ct = strings.TrimSpace(ct)
	switch {
	case strings.HasPrefix(ct, "text/"),
		strings.HasSuffix(ct, "+xml"), strings.HasSuffix(ct, "+json"),
		ct == "application/json", ct == "application/javascript",
		ct == "application/xml", ct == "image/svg+xml":
		return true
	}
	return false
}

// minCompress is the body size below which variants are not worth a file.
const minCompress = 256

var gzPools, brPools sync.Map // level → *sync.Pool

func pool(m *sync.Map, level int, mk func() any) *sync.Pool {
	if p, ok := m.Load(level); ok {
		return p.(*sync.Pool)
	}
	p, _ := m.LoadOrStore(level, &sync.Pool{New: mk})
	return p.(*sync.Pool)
}

// compress adds gzip and brotli variants to p when they are smaller than
// the identity body.
func compress(p *edge.Page, gzLevel, brLevel int) {
	if len(p.Body) < minCompress || !compressible(p.ContentType) {
		return
	}
	var buf bytes.Buffer
	gp := pool(&gzPools, gzLevel, func() any { w, _ := gzip.NewWriterLevel(nil, gzLevel); return w })
	zw := gp.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(p.Body)
	if zw.Close() == nil && buf.Len() < len(p.Body) {
		p.Gzip = bytes.Clone(buf.Bytes())
	}
	gp.Put(zw)

	buf.Reset()
	bp := pool(&brPools, brLevel, func() any { return brotli.NewWriterLevel(nil, brLevel) })
	bw := bp.Get().(*brotli.Writer)
	bw.Reset(&buf)
	_, _ = bw.Write(p.Body)
	if bw.Close() == nil && buf.Len() < len(p.Body) {
		p.Brotli = bytes.Clone(buf.Bytes())
	}
	bp.Put(bw)
}
