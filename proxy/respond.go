package proxy

import (
	"bytes"
	"strconv"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// outcome is the X-Cache value of a response.
type outcome uint8

const (
	outHit outcome = iota
	outMiss
	outStale
	outBypass
)

var xcache = [...]string{outHit: "HIT", outMiss: "MISS", outStale: "STALE", outBypass: "BYPASS"}

// Cache-Status values (RFC 9211), one per way a response can be produced.
const (
	csHit            = "edge; hit"
	csStale          = "edge; hit; detail=stale"
	csStaleError     = "edge; hit; fwd=stale; detail=origin-error"
	csMissStored     = "edge; fwd=uri-miss; stored"
	csMissNotStored  = "edge; fwd=uri-miss"
	csCollapsed      = "edge; fwd=uri-miss; collapsed"
	csBypass         = "edge; fwd=bypass"
	csBypassMethod   = "edge; fwd=method"
	csBypassRequest  = "edge; fwd=request"
	csLockTimeout    = "edge; fwd=uri-miss; detail=lock-timeout"
	csNegativeHit    = "edge; hit; detail=negative"
	csUncacheableHit = "edge; fwd=uri-miss; detail=uncacheable"
	// A miss generated and served but not stored: the admission policy
	// (store.admit) did not admit it yet.
	csNotAdmitted          = "edge; fwd=uri-miss; detail=admission"
	csCollapsedNotAdmitted = "edge; fwd=uri-miss; collapsed; detail=admission"
	// A miss refused (429) because its client was over its miss rate.
	csMissRateLimited = "edge; detail=miss-rate-limited"
)

// respond writes a page, honouring Accept-Encoding, conditional requests
// and single byte ranges. It does not allocate for a memory hit.
func (s *Server) respond(ctx *fasthttp.RequestCtx, p *edge.Page, o outcome, cacheStatus string) {
	_ = s.send(ctx, p, nil, o, cacheStatus) // nothing to read: no error
}

// send is respond with, when f is set, the body sent from that open file
// (p is f.Page): the representation was chosen when it was opened, and a
// file is never opened for a Range request. send owns f; it fails only
// when the file cannot be read.
func (s *Server) send(ctx *fasthttp.RequestCtx, p *edge.Page, f *edge.File, o outcome, cacheStatus string) error {
	h := &ctx.Response.Header
	rangeHdr := ctx.Request.Header.Peek(fasthttp.HeaderRange)
	var body []byte
	var ce, etag string
	if f != nil {
		rangeHdr = nil
		ce, etag = p.Meta(f.Encoding)
	} else {
		enc := edge.Identity
		if len(rangeHdr) == 0 {
			enc = best(p, negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding)))
		}
		body, ce, etag = p.Variant(enc)
	}

	s.writeMeta(ctx, p, o, cacheStatus)
	if etag != "" {
		h.Set(fasthttp.HeaderETag, etag)
	}
	// Preconditions apply only when the answer would be a 2xx (RFC 9110
	// §13.2.1): a remembered 404 or a stored redirect is sent as it is.
	if p.Status == fasthttp.StatusOK && notModified(&ctx.Request.Header, etag, p.GeneratedAt) {
		closeFile(f)
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return nil
	}
	h.Set(fasthttp.HeaderLastModified, p.LastModified)
	if ce != "" {
		h.Set(fasthttp.HeaderContentEncoding, ce)
	}
	ctx.SetStatusCode(p.Status)
	if f != nil {
		return sendFile(ctx, f)
	}
	if len(rangeHdr) > 0 && p.Status == fasthttp.StatusOK && ifRangeOK(&ctx.Request.Header, etag, p.GeneratedAt) {
		start, end, ok, satisfiable := parseRange(rangeHdr, len(body))
		switch {
		case !satisfiable:
			ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
			var b [32]byte
			h.SetBytesV(fasthttp.HeaderContentRange, strconv.AppendInt(append(b[:0], "bytes */"...), int64(len(body)), 10))
			ctx.Response.SetBodyRaw(nil)
			return nil
		case ok:
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			h.SetContentRange(start, end, len(body))
			body = body[start : end+1]
		}
	}
	ctx.Response.SetBodyRaw(body)
	return nil
}

// writeMeta sets the headers every response of a page carries, 304s
// included.
func (s *Server) writeMeta(ctx *fasthttp.RequestCtx, p *edge.Page, o outcome, cacheStatus string) {
	h := &ctx.Response.Header
	if p.ContentType != "" {
		h.SetContentType(p.ContentType)
	}
	for _, f := range p.Header {
		h.Add(f.Name, f.Value)
	}
	h.Set(fasthttp.HeaderVary, "Accept-Encoding")
	h.Set(fasthttp.HeaderAcceptRanges, "bytes")
	h.Set("X-Cache", xcache[o])
	h.Set("Cache-Status", cacheStatus)
	var b [20]byte
	age := int64(s.now().Sub(p.GeneratedAt) / time.Second)
	h.SetBytesV(fasthttp.HeaderAge, strconv.AppendInt(b[:0], max(age, 0), 10))
}

// accepted is the set of content codings a client accepts, beyond identity.
type accepted uint8

const (
	acceptGzip accepted = 1 << iota
	acceptBrotli
)

// negotiate parses Accept-Encoding into the codings edge can serve; one
// listed with q=0 is refused.
func negotiate(ae []byte) accepted {
	var set accepted
	for len(ae) > 0 {
		var item []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, nil
		}
		name, params, _ := bytes.Cut(item, []byte(";"))
		name = bytes.TrimSpace(name)
		if qZero(params) {
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("br")):
			set |= acceptBrotli
		case bytes.EqualFold(name, []byte("gzip")):
			set |= acceptGzip
		}
	}
	return set
}

// best picks the smallest variant the page has and the client accepts:
// brotli, then gzip, else identity.
func best(p *edge.Page, a accepted) edge.Encoding {
	switch {
	case a&acceptBrotli != 0 && p.Brotli != nil:
		return edge.Brotli
	case a&acceptGzip != 0 && p.Gzip != nil:
		return edge.Gzip
	}
	return edge.Identity
}

// qZero reports whether the parameters of an Accept-Encoding item say q=0.
func qZero(params []byte) bool {
	params = bytes.TrimSpace(params)
	if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') {
		return false
	}
	v := bytes.TrimSpace(params[1:])
	if len(v) == 0 || v[0] != '=' {
		return false
	}
	v = bytes.TrimSpace(v[1:])
	for _, c := range v {
		if c != '0' && c != '.' {
			return false
		}
	}
	return len(v) > 0
}

// notModified evaluates If-None-Match (weak comparison, RFC 9110 §13.1.2)
// and, only when it is absent, If-Modified-Since.
func notModified(h *fasthttp.RequestHeader, etag string, modified time.Time) bool {
	if inm := h.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 {
		return etagListMatch(inm, etag, true)
	}
	if ims := h.Peek(fasthttp.HeaderIfModifiedSince); len(ims) > 0 {
		t, err := fasthttp.ParseHTTPDate(ims)
		return err == nil && !modified.Truncate(time.Second).After(t)
	}
	return false
}

// ifRangeOK reports whether a Range request may be honoured: no If-Range,
// or one that matches the current representation strongly.
func ifRangeOK(h *fasthttp.RequestHeader, etag string, modified time.Time) bool {
	ir := h.Peek(fasthttp.HeaderIfRange)
	if len(ir) == 0 {
		return true
	}
	if ir[0] == '"' {
		return string(ir) == etag
	}
	t, err := fasthttp.ParseHTTPDate(ir)
	return err == nil && modified.Truncate(time.Second).Equal(t)
}

// etagListMatch reports whether etag is in a comma-separated list ("*"
// matches any). With weak set, W/ prefixes are ignored.
func etagListMatch(list []byte, etag string, weak bool) bool {
	if etag == "" {
		return false
	}
	for len(list) > 0 {
		var item []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			item, list = list, nil
		}
		item = bytes.TrimSpace(item)
		if len(item) == 1 && item[0] == '*' {
			return true
		}
		if weak {
			item = bytes.TrimPrefix(item, []byte("W/"))
		}
		if string(item) == etag {
			return true
		}
	}
	return false
}

// parseRange parses a single "bytes=" range against a body of size n. ok
// is false when the header is not one we honour (multiple ranges, another
// unit, malformed): the full body is then sent. satisfiable is false only
// for a well-formed single range that lies outside the body.
func parseRange(v []byte, n int) (start, end int, ok, satisfiable bool) {
	spec, found := bytes.CutPrefix(v, []byte("bytes="))
	if !found || bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, false, true
	}
	first, last, found := bytes.Cut(bytes.TrimSpace(spec), []byte("-"))
	if !found {
		return 0, 0, false, true
	}
	if len(first) == 0 { // suffix range: the last N bytes
		k, err := strconv.Atoi(string(last))
		if err != nil || k < 0 {
			return 0, 0, false, true
		}
		if k == 0 || n == 0 {
			return 0, 0, false, false
		}
		return max(n-k, 0), n - 1, true, true
	}
	a, err := strconv.Atoi(string(first))
	if err != nil || a < 0 {
		return 0, 0, false, true
	}
	b := n - 1
	if len(last) > 0 {
		if b, err = strconv.Atoi(string(last)); err != nil || b < a {
			return 0, 0, false, true
		}
	}
	if a >= n {
		return 0, 0, false, false
	}
	return a, min(b, n-1), true, true
}
