package origin

import (
	"iter"
	"net/textproto"
	"strings"

	"github.com/valyala/fasthttp"
)

// Header is the part of *fasthttp.RequestHeader and *fasthttp.ResponseHeader
// that StripHopByHop needs; both satisfy it. Like those types, an
// implementation need not be safe for concurrent use: StripHopByHop uses it
// from the calling goroutine only.
type Header interface {
	All() iter.Seq2[[]byte, []byte]
	Del(key string)
}

var (
	_ Header = (*fasthttp.RequestHeader)(nil)
	_ Header = (*fasthttp.ResponseHeader)(nil)
)

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 §7.6.1, plus the non-standard Proxy-Connection).
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// forwarding are the client-supplied forwarding headers SetForwarded removes
// (its own three are set afresh).
var forwarding = []string{
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
	"X-Forwarded-Port", "X-Forwarded-Scheme", "X-Forwarded-Server", "X-Host",
	"X-Original-URL", "X-Rewrite-URL", "X-Real-IP",
}

// StripHopByHop deletes the hop-by-hop headers from h: Connection and every
// header its values name, Keep-Alive, Proxy-Connection, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding and Upgrade. Names match
// case-insensitively, also when h has header-name normalising disabled.
//
// A Connection header naming Host or Content-Length does not remove them: the
// first routes the request and fasthttp owns framing. (A proxy should reject
// such a request with 400 before it gets here.)
//
// Client.Do calls it on both the request and the response; the proxy calls it
// on pass-through responses. It is a function of h alone, so it is safe for
// concurrent use on distinct headers.
func StripHopByHop(h Header) {
	var nominated []string
	for k, v := range h.All() { // not PeekAll: it is case-sensitive when normalising is off
		if !asciiEqualFold(k, "Connection") {
			continue
		}
		for tok := range strings.SplitSeq(string(v), ",") {
			tok = textproto.TrimString(tok)
			if tok == "" || strings.EqualFold(tok, "Host") || strings.EqualFold(tok, "Content-Length") {
				continue
			}
			nominated = append(nominated, tok)
		}
	}
	delFold(h, hopByHop, nominated)
}

// SetForwarded overwrites the forwarding headers with edge's own values:
// X-Forwarded-For = clientIP, X-Forwarded-Proto = proto, X-Forwarded-Host =
// host (an empty value leaves that header absent). It deletes the
// client-supplied Forwarded, X-Forwarded-Port, X-Forwarded-Scheme,
// X-Forwarded-Server, X-Host, X-Original-URL, X-Rewrite-URL and X-Real-IP,
// whatever their case.
//
// It first strips the hop-by-hop headers, so a client cannot get the values set
// here removed by naming them in Connection (RFC 9110 §7.6.1 abuse).
func SetForwarded(h *fasthttp.RequestHeader, clientIP, proto, host string) {
	StripHopByHop(h)
	delFold(h, forwarding, nil)
	for _, kv := range [...][2]string{
		{"X-Forwarded-For", clientIP},
		{"X-Forwarded-Proto", proto},
		{"X-Forwarded-Host", host},
	} {
		if kv[1] != "" {
			h.Set(kv[0], kv[1])
		}
	}
}

// delFold deletes every header whose name equals one of names or extra,
// ignoring case. Del alone matches only the normalised spelling when
// normalising is disabled, so the exact spellings present are found first.
func delFold(h Header, names, extra []string) {
	var found []string
	for k := range h.All() {
		if matchFold(k, names) || matchFold(k, extra) {
			found = append(found, string(k))
		}
	}
	for _, n := range names {
		h.Del(n)
	}
	for _, n := range extra {
		h.Del(n)
	}
	for _, n := range found {
		h.Del(n)
	}
}

func matchFold(k []byte, names []string) bool {
	for _, n := range names {
		if asciiEqualFold(k, n) {
			return true
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for header names (ASCII tokens), without
// converting k to a string.
func asciiEqualFold(k []byte, s string) bool {
	if len(k) != len(s) {
		return false
	}
	for i := range len(k) {
		a, b := k[i], s[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
