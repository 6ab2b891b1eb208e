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
// only 200, 301 and 308 are stored; Set-Cookie, Cache-Control private,
// no-store or no-cache, Vary: * or Vary on a header edge does not key, a
// non-identity Content-Encoding, and bodies over maxBytes pass through.
func judge(resp *fasthttp.Response, maxBytes int) verdict {
	h := &resp.Header
	status := resp.StatusCode()
	switch status {
	case fasthttp.StatusOK, fasthttp.StatusMovedPermanently, fasthttp.StatusPermanentRedirect:
	case fasthttp.StatusNotFound, fasthttp.StatusGone:
		if h.Peek(fasthttp.HeaderSetCookie) == nil && !privateCacheControl(h.Peek(fasthttp.HeaderCacheControl)) {
			return verdict{negative: true, reason: "status"}
		}
		return verdict{reason: "status"}
	default:
		return verdict{reason: "status"}
	}
	switch {
	case h.Peek(fasthttp.HeaderSetCookie) != nil:
		return verdict{reason: "set-cookie"}
	case privateCacheControl(h.Peek(fasthttp.HeaderCacheControl)):
		return verdict{reason: "cache-control"}
	case !varyKeyed(h.Peek(fasthttp.HeaderVary)):
		return verdict{reason: "vary"}
	case len(h.ContentEncoding()) > 0 && !bytes.EqualFold(h.ContentEncoding(), []byte("identity")):
		return verdict{reason: "content-encoding"}
	case len(resp.Body()) > maxBytes:
		return verdict{reason: "too-large"}
	}
	return verdict{cacheable: true}
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
