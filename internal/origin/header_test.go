package origin

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func parseRequest(t *testing.T, raw string, normalize bool) *fasthttp.Request {
	t.Helper()
	req := new(fasthttp.Request)
	if !normalize {
		req.Header.DisableNormalizing()
	}
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	return req
}

// names returns the lower-cased header names of h.
func names(h Header) map[string]bool {
	m := map[string]bool{}
	for k := range h.All() {
		m[strings.ToLower(string(k))] = true
	}
	return m
}

func TestStripHopByHopRequest(t *testing.T) {
	const raw = "GET /x HTTP/1.1\r\n" +
		"Host: www.example.com\r\n" +
		"Connection: keep-alive, X-Foo\r\n" +
		"connection: x-bar , Host,\tContent-Length\r\n" +
		"x-foo: 1\r\nX-BAR: 2\r\nkeep-alive: 300\r\nte: trailers\r\nPROXY-CONNECTION: x\r\n" +
		"Proxy-Authorization: Basic eA==\r\nUpgrade: websocket\r\nX-Keep: yes\r\n" +
		"Content-Length: 3\r\n\r\nabc"
	for _, normalize := range []bool{true, false} {
		req := parseRequest(t, raw, normalize)
		StripHopByHop(&req.Header)
		got := names(&req.Header)
		for _, h := range []string{"connection", "x-foo", "x-bar", "keep-alive", "te", "proxy-connection", "proxy-authorization", "upgrade"} {
			if got[h] {
				t.Errorf("normalize=%v: %s survived: %s", normalize, h, req.Header.String())
			}
		}
		if !got["x-keep"] || string(req.Header.Host()) != "www.example.com" || req.Header.ContentLength() != 3 {
			t.Errorf("normalize=%v: end-to-end header lost: %s", normalize, req.Header.String())
		}
		if req.Header.ConnectionClose() {
			t.Errorf("normalize=%v: connection close survived", normalize)
		}
	}
}

func TestStripHopByHopResponse(t *testing.T) {
	const raw = "HTTP/1.1 200 OK\r\n" +
		"Connection: close, X-Secret\r\nconnection: Set-Cookie\r\n" +
		"X-Secret: s\r\nSet-Cookie: a=b\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n" +
		"Trailer: X-Tr\r\nUpgrade: h2c\r\nX-Stay: 1\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"2\r\nok\r\n0\r\nX-Tr: v\r\n\r\n"
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	StripHopByHop(&resp.Header)
	got := names(&resp.Header)
	for _, h := range []string{"connection", "x-secret", "set-cookie", "keep-alive", "proxy-authenticate", "trailer", "upgrade", "transfer-encoding"} {
		if got[h] {
			t.Errorf("%s survived: %s", h, resp.Header.String())
		}
	}
	if !got["x-stay"] || resp.Header.ConnectionClose() {
		t.Errorf("bad result: %s", resp.Header.String())
	}
}

func TestSetForwarded(t *testing.T) {
	const raw = "GET / HTTP/1.1\r\nHost: www.example.com\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\nX-Forwarded-Proto: http\r\n" +
		"X-Forwarded-Host: evil.example\r\nForwarded: host=evil\r\nX-Forwarded-Port: 1\r\n" +
		"X-Forwarded-Scheme: http\r\nX-Forwarded-Server: evil\r\nX-Host: evil\r\n" +
		"x-original-url: /admin\r\nX-Rewrite-URL: /admin\r\nX-Real-IP: 6.6.6.6\r\n" +
		"Connection: X-Forwarded-For, X-Forwarded-Proto\r\nX-Other: kept\r\n\r\n"
	for _, normalize := range []bool{true, false} {
		req := parseRequest(t, raw, normalize)
		SetForwarded(&req.Header, "192.0.2.7", "https", "www.example.com")
		want := map[string]string{
			"x-forwarded-for":   "192.0.2.7",
			"x-forwarded-proto": "https",
			"x-forwarded-host":  "www.example.com",
			"host":              "www.example.com",
			"x-other":           "kept",
		}
		got := map[string][]string{}
		for k, v := range req.Header.All() {
			got[strings.ToLower(string(k))] = append(got[strings.ToLower(string(k))], string(v))
		}
		for k, v := range want {
			if len(got[k]) != 1 || got[k][0] != v {
				t.Errorf("normalize=%v: %s = %q, want [%q]", normalize, k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("normalize=%v: unexpected header %s: %q", normalize, k, got[k])
			}
		}
	}

	// Empty values leave the header absent.
	var h fasthttp.RequestHeader
	h.Set("X-Forwarded-Host", "evil")
	SetForwarded(&h, "192.0.2.7", "http", "")
	if h.Peek("X-Forwarded-Host") != nil || string(h.Peek("X-Forwarded-Proto")) != "http" {
		t.Errorf("got %s", h.String())
	}
}
