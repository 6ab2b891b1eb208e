package proxy

import (
	"testing"
)

// ambiguousFraming refuses what fasthttp's parser lets through and leaves
// ordinary requests alone (the end-to-end cases are in cmd/edge's
// TestSmugglingFramingRejected).
func TestAmbiguousFraming(t *testing.T) {
	const host = "Host: example.com\r\n"
	tests := []struct {
		name, raw string
		want      bool
	}{
		{"plain GET", "GET /a HTTP/1.1\r\n" + host + "\r\n", false},
		{"POST with CL", "POST /a HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabc", false},
		{"POST chunked", "POST /a HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"chunked with OWS", "POST /a HTTP/1.1\r\n" + host + "Transfer-Encoding:  Chunked \r\n\r\n0\r\n\r\n", false},
		{"Connection keep-alive, Upgrade", "GET /a HTTP/1.1\r\n" + host + "Connection: keep-alive, Upgrade\r\n\r\n", false},
		{"header value naming TE", "GET /a HTTP/1.1\r\n" + host + "X-Note: transfer-encoding\r\n\r\n", false},
		{"CL then TE", "POST /a HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
		{"TE then CL", "POST /a HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", true},
		{"odd case", "POST /a HTTP/1.1\r\n" + host + "tRaNsFeR-EnCoDiNg: chunked\r\ncontent-LENGTH: 5\r\n\r\n0\r\n\r\n", true},
		{"TE identity", "POST /a HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", true},
		{"Connection: Content-Length", "GET /a HTTP/1.1\r\n" + host + "Connection: Content-Length\r\n\r\n", true},
		{"Connection: close, host", "GET /a HTTP/1.1\r\n" + host + "Connection: close, host\r\n\r\n", true},
		{"Connection: Transfer-Encoding", "GET /a HTTP/1.1\r\n" + host + "Connection: x, Transfer-Encoding\r\n\r\n", true},
	}
	for _, tt := range tests {
		req := wireRequest(t, tt.raw)
		if got := ambiguousFraming(&req.Header); got != tt.want {
			t.Errorf("%s: ambiguousFraming = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Headers a client names in Connection are dropped before edge sets its
// forwarding headers, so they cannot be nominated away (the origin client
// strips Connection-nominated headers after the proxy set its own).
func TestPassConnectionCannotDropForwardingHeaders(t *testing.T) {
	h := newHarness(t, nil)
	ctx := h.get("/me", "Cookie: sessionid=abc", "X-Forwarded-For: 6.6.6.6",
		"Connection: X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Secret", "X-Secret: s")
	if got := respHeader(ctx, "X-Cache"); got != "BYPASS" {
		t.Fatalf("X-Cache %q", got)
	}
	reqs := h.origin.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d origin requests", len(reqs))
	}
	hd := &reqs[0].Header
	if got := string(hd.Peek("X-Forwarded-For")); got != clientIP {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if len(hd.Peek("X-Forwarded-Host")) == 0 || len(hd.Peek("X-Forwarded-Proto")) == 0 {
		t.Error("edge's forwarding headers missing")
	}
	if len(hd.Peek("Connection")) != 0 || len(hd.Peek("X-Secret")) != 0 {
		t.Errorf("hop-by-hop headers forwarded: Connection %q X-Secret %q", hd.Peek("Connection"), hd.Peek("X-Secret"))
	}
}
