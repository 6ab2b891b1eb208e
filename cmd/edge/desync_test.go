package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge/internal/testenv"
)

// hardened starts edge in front of a raw origin serving cacheable pages,
// with short client timeouts so the bounded cases end quickly.
func hardened(t *testing.T, mod func(*Config)) (*testEdge, *testenv.Origin, string) {
	t.Helper()
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, func(c *Config) {
		c.Server.ReadTimeout = 500 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	})
	return e, o, e.PublicListener.Addr().String()
}

// Ambiguous or malformed framing is refused with a 400 (or the connection
// is closed unanswered), the connection is closed, and nothing reaches the
// origin (checklist 27-29, 32; fasthttp lets Transfer-Encoding win over
// Content-Length, so edge refuses that itself).
func TestSmugglingFramingRejected(t *testing.T) {
	_, o, addr := hardened(t, nil)
	h := "Host: " + addr + "\r\n"
	cases := []struct{ name, req string }{
		{"CL then TE", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"TE then CL", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
		{"GET CL+TE", "GET /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"odd-case TE with CL", "POST /a HTTP/1.1\r\n" + h + "tRANSFER-ENCODING: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"},
		{"duplicate TE", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"TE xchunked", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
		{"TE list", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
		{"TE identity", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: identity\r\n\r\n"},
		{"TE identity with CL", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc"},
		{"TE in HTTP/1.0", "POST /a HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"space before colon", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"},
		{"duplicate CL", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
		{"CL +3", "POST /a HTTP/1.1\r\n" + h + "Content-Length: +3\r\n\r\nabc"},
		{"CL -1", "POST /a HTTP/1.1\r\n" + h + "Content-Length: -1\r\n\r\nabc"},
		{"CL 0x3", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 0x3\r\n\r\nabc"},
		{"CL 3 3", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 3 3\r\n\r\nabc"},
		{"CL 20 digits", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 99999999999999999999\r\n\r\nabc"},
		{"chunk size not hex", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"chunk data without CRLF", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n"},
		{"chunk bare LF", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"},
		{"chunk quoted extension", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3;a=\"b\r\n\"\r\nabc\r\n0\r\n\r\n"},
		{"trailer bare LF", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\n\r\n"},
		{"forbidden trailer", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n"},
		{"Connection: Content-Length", "GET /a HTTP/1.1\r\n" + h + "Connection: Content-Length\r\nContent-Length: 0\r\n\r\n"},
		{"Connection: Host", "GET /a HTTP/1.1\r\n" + h + "Connection: close, Host\r\n\r\n"},
		{"Connection: Transfer-Encoding", "GET /a HTTP/1.1\r\n" + h + "Connection: Transfer-Encoding\r\n\r\n"},
		{"two Host", "GET /a HTTP/1.1\r\n" + h + h + "\r\n"},
		{"no Host", "GET /a HTTP/1.1\r\n\r\n"},
		{"bare CR in value", "GET /a HTTP/1.1\r\n" + h + "X: a\rb\r\n\r\n"},
		{"NUL in value", "GET /a HTTP/1.1\r\n" + h + "X: a\x00b\r\n\r\n"},
		{"space in target", "GET /a b HTTP/1.1\r\n" + h + "\r\n"},
		{"control byte in target", "GET /a\x02 HTTP/1.1\r\n" + h + "\r\n"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
	}
	for _, c := range cases {
		resp, closed := testenv.RoundTrip(t, addr, c.req)
		switch {
		case resp != nil && resp.Status != 400 && !(resp.Status == 408 && strings.HasPrefix(c.name, "trailer")):
			// fasthttp waits for the rest of a trailer it cannot parse:
			// the read timeout then answers 408 and closes.
			t.Errorf("%s: status %d, want 400", c.name, resp.Status)
		case !closed:
			t.Errorf("%s: connection left open", c.name)
		}
	}
	if n := len(o.Requests()); n != 0 {
		t.Errorf("the origin received %d of the refused requests: %q", n, o.Requests()[0].Raw)
	}
}

// A request after a refused one on the same connection is never processed
// (checklist 34, ATS good_request_after_bad, Varnish VSV00015).
func TestNothingProcessedAfterABadRequest(t *testing.T) {
	_, o, addr := hardened(t, nil)
	h := "Host: " + addr + "\r\n"
	for _, bad := range []string{
		"GET /%zz HTTP/1.1\r\n" + h + "\r\n", // refused by edge's key rules
		"POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /a HTTP/1.1\r\n" + h + "Connection: Content-Length\r\n\r\n",
		"GET /a\x01 HTTP/1.1\r\n" + h + "\r\n", // refused by the parser
	} {
		c := testenv.Dial(t, addr)
		if err := c.Send(bad + "GET /second HTTP/1.1\r\n" + h + "\r\n"); err != nil {
			t.Fatal(err)
		}
		if r, err := c.Read(false); err == nil && r.Status < 400 {
			t.Errorf("%.40q: status %d", bad, r.Status)
		}
		if !c.Closed(2 * time.Second) {
			t.Errorf("%.40q: connection open after the refusal", bad)
		}
	}
	if n := o.Count("/second"); n != 0 {
		t.Fatalf("the pipelined request reached the origin %d times", n)
	}
}

// A request hidden in the body of a GET that hits the cache is consumed as
// a body, never run (checklist 30, ATS cache_and_req_body); a GET whose
// body never fully arrives ends at the read timeout with the connection
// closed (checklist 31).
func TestRequestInAHitsBody(t *testing.T) {
	_, o, addr := hardened(t, nil)
	h := "Host: " + addr + "\r\n"
	if r, _ := testenv.RoundTrip(t, addr, "GET /hit HTTP/1.1\r\n"+h+"\r\n"); r == nil || r.Status != 200 {
		t.Fatalf("warm-up: %v", r)
	}
	smuggled := "GET /smuggled?evil=1 HTTP/1.1\r\n" + h + "\r\n"
	c := testenv.Dial(t, addr)
	if err := c.Send("GET /hit HTTP/1.1\r\n" + h + "Content-Length: " + itoa(len(smuggled)) + "\r\n\r\n" + smuggled +
		"GET /next HTTP/1.1\r\n" + h + "\r\n"); err != nil {
		t.Fatal(err)
	}
	first, err := c.Read(false)
	if err != nil || first.Status != 200 || first.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("first answer: %v %v", first, err)
	}
	if second, err := c.Read(false); err == nil && !strings.Contains(string(second.Body), "/next") {
		t.Fatalf("second answer is not /next's: %.200q", second.Body)
	}
	if n := o.Count("/smuggled?evil=1"); n != 0 {
		t.Fatal("the request hidden in the body reached the origin")
	}

	// Content-Length: 100 with 71 bytes sent: no answer until the read
	// timeout, then the connection is closed and never reused.
	c = testenv.Dial(t, addr)
	if err := c.Send("GET /hit HTTP/1.1\r\n" + h + "Content-Length: 100\r\n\r\n" + strings.Repeat("x", 71)); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Read(false); err == nil && r.Status != 408 {
		t.Fatalf("short body: status %d, want 408 or nothing", r.Status)
	}
	if !c.Closed(5 * time.Second) {
		t.Fatal("short body: connection still open")
	}
}

// Expect: 100-continue on a cached GET: an interim 100 and then the page,
// one response each, nothing left over (no desync).
func TestExpectContinueOnAHit(t *testing.T) {
	_, _, addr := hardened(t, nil)
	h := "Host: " + addr + "\r\n"
	testenv.RoundTrip(t, addr, "GET /e HTTP/1.1\r\n"+h+"\r\n")
	c := testenv.Dial(t, addr)
	if err := c.Send("GET /e HTTP/1.1\r\n" + h + "Expect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Read(false)
	if err == nil && r.Status == 100 {
		r, err = c.Read(false)
	}
	if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), "<h1>/e</h1>") {
		t.Fatalf("Expect: %v %v", r, err)
	}
	if err := c.Send("GET /e HTTP/1.1\r\n" + h + "\r\n"); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Read(false); err != nil || r.Status != 200 {
		t.Fatalf("next request on the connection: %v %v", r, err)
	}
}

// A GET with a body on a miss: the body never reaches the origin and does
// not change the key (checklist 24, fat GET).
func TestFatGETBodyNotForwarded(t *testing.T) {
	e, o, addr := hardened(t, nil)
	h := "Host: " + addr + "\r\n"
	r, _ := testenv.RoundTrip(t, addr, "GET /fat HTTP/1.1\r\n"+h+"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=2")
	if r == nil || r.Status != 200 {
		t.Fatalf("fat GET: %v", r)
	}
	reqs := o.Requests()
	if len(reqs) != 1 || len(reqs[0].Body) != 0 || reqs[0].Header.Get("Content-Length") != "" && reqs[0].Header.Get("Content-Length") != "0" {
		t.Fatalf("origin saw %d requests, the first %q + %q", len(reqs), reqs[0].Raw, reqs[0].Body)
	}
	if _, err := e.store.Get("/fat"); err != nil {
		t.Fatalf("stored under another key: %v", err)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
