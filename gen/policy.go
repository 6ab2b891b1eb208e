package gen

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"
)

// verdict is the cacheability decision for one origin response.
type verdict struct {
	cacheable bool
	negative  bool   // 404/410: may be remembered in memory only
	reason    string // why not cacheable
}

// judge applies the storage rules (Varnish's builtin rules as the floor):
// a response is shareable only without Set-Cookie, without Cache-Control
// private, no-store or no-cache, without Vary: * or Vary on a header edge
// does not key, with an identity body no larger than maxBytes. A shareable
// 200, 301 or 308 is stored; a shareable 404 or 410 may be remembered in
// memory only; everything else passes through.
func judge(resp *fasthttp.Response, maxBytes int) verdict {
	if reason := unshareable(resp, maxBytes); reason != "" {
		return verdict{reason: reason}
	}
	switch resp.StatusCode() {
	case fasthttp.StatusOK, fasthttp.StatusMovedPermanently, fasthttp.StatusPermanentRedirect:
		return verdict{cacheable: true}
	case fasthttp.StatusNotFound, fasthttp.StatusGone:
		return verdict{negative: true, reason: "status"}
	}
	return verdict{reason: "status"}
}

// unshareable names the first rule that forbids sharing a response, or "".
// Repeated header lines count as one comma-joined list.
func unshareable(resp *fasthttp.Response, maxBytes int) string {
	h := &resp.Header
	ce := h.ContentEncoding()
	switch {
	case h.Peek(fasthttp.HeaderSetCookie) != nil:
		return "set-cookie"
	case privateCacheControl(joined(h, fasthttp.HeaderCacheControl)):
		return "cache-control"
	case !varyKeyed(joined(h, fasthttp.HeaderVary)):
		return "vary"
	case len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")):
		return "content-encoding"
	case len(resp.Body()) > maxBytes:
		return "too-large"
	}
	return ""
}

// joined returns every line of a header joined with commas.
func joined(h *fasthttp.ResponseHeader, name string) []byte {
	all := h.PeekAll(name)
	if len(all) <= 1 {
		return h.Peek(name)
	}
	return bytes.Join(all, []byte(","))
}

// privateCacheControl reports whether a Cache-Control value forbids a shared
// cache from storing the response.
func privateCacheControl(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, d := range strings.Split(string(v), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "private", "no-store", "no-cache":
			return true
		}
	}
	return false
}

// varyKeyed reports whether every header the response varies on is one
// edge accounts for: Accept-Encoding (edge negotiates it itself) and Cookie
// (fills are sent without cookies, and requests carrying a session cookie
// bypass the cache).
func varyKeyed(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	for _, f := range strings.Split(string(v), ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "", "accept-encoding", "cookie":
		default:
			return false
		}
	}
	return true
}
