package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/testenv"
)

// Oversized request lines and headers are refused early with 414/431 and
// the connection closed (checklist 37). The header block is bounded as a
// whole (server.max_header_bytes), so "101 headers" is refused only when it
// exceeds that; fills never forward client headers, so the count cannot
// make the origin fail a cached page (TestUnkeyedHeadersNeverPoison).
func TestOversizedRequests(t *testing.T) {
	_, o, addr := hardened(t, nil)
	h := "Host: " + addr + "\r\n"
	var many strings.Builder
	for i := range 101 {
		fmt.Fprintf(&many, "X-H-%d: %s\r\n", i, strings.Repeat("v", 80))
	}
	for _, c := range []struct {
		name, req string
		want      []int
	}{
		{"8 KiB URI", "GET /" + strings.Repeat("a", 8<<10) + " HTTP/1.1\r\n" + h + "\r\n", []int{414, 431}},
		{"64 KiB URI", "GET /" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\n" + h + "\r\n", []int{414, 431}},
		{"3 KiB URI", "GET /" + strings.Repeat("a/", 1500) + " HTTP/1.1\r\n" + h + "\r\n", []int{414}},
		{"16 KiB header", "GET /a HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", []int{431}},
		{"101 headers of 80 bytes", "GET /a HTTP/1.1\r\n" + h + many.String() + "\r\n", []int{431}},
		{"100 KiB cookie", "GET /a HTTP/1.1\r\n" + h + "Cookie: c=" + strings.Repeat("c", 100<<10) + "\r\n\r\n", []int{431}},
		{"2 MiB body", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 2097152\r\n\r\n", []int{413}},
	} {
		resp, closed := testenv.RoundTrip(t, addr, c.req)
		switch {
		case resp == nil:
			t.Errorf("%s: closed without an answer", c.name)
		case !contains(c.want, resp.Status):
			t.Errorf("%s: status %d, want %v", c.name, resp.Status, c.want)
		case !closed:
			t.Errorf("%s: connection left open", c.name)
		}
	}
	if n := len(o.Requests()); n != 0 {
		t.Errorf("%d oversized requests reached the origin", n)
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Random Host values get a 421 (or 400) and create no key, directory or
// origin request (checklist 22, §2.9).
func TestRandomHostsCreateNothing(t *testing.T) {
	e, o, addr := hardened(t, nil)
	get(t, e.URL+"/known")
	before := listDir(t, e.Root)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		host := fmt.Sprintf("h%x.example", rnd.Uint64())
		if i%4 == 1 {
			host = fmt.Sprintf("%s:%d", addr[:strings.IndexByte(addr, ':')], 1+rnd.IntN(65535))
		}
		resp, _ := testenv.RoundTrip(t, addr, "GET /known HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if resp == nil || resp.Status != 421 && resp.Status != 400 {
			t.Fatalf("Host %q: %v", host, resp)
		}
	}
	if after := listDir(t, e.Root); after != before {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}
	if n := len(o.Requests()); n != 1 {
		t.Fatalf("origin requests %d, want 1", n)
	}
}

// Slowloris: connections that send their header a byte at a time, or stop
// half-way, are closed at the read timeout while a normal client is served
// (checklist 38). Bounded: 20 connections, a dribble of at most 200 bytes.
func TestSlowlorisBounded(t *testing.T) {
	e, _, addr := hardened(t, func(c *Config) { c.Server.ReadTimeout = 300 * time.Millisecond })
	get(t, e.URL+"/busy")
	var conns []*testenv.Client
	for range 20 {
		c := testenv.Dial(t, addr)
		if err := c.Send("GET /busy HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	drip := testenv.Dial(t, addr)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	dropped := false
	for i := 0; i < 200 && !dropped; i++ {
		<-tick.C
		dropped = drip.Send("a") != nil
		if i%10 == 0 { // a normal client is served meanwhile
			if r := get(t, e.URL+"/busy"); r.Status != 200 {
				t.Fatalf("normal client: %d", r.Status)
			}
		}
	}
	if !dropped && !drip.Closed(2*time.Second) {
		t.Fatal("a connection sending its header a byte at a time was never dropped")
	}
	for i, c := range conns {
		if !c.Closed(5 * time.Second) {
			t.Fatalf("half-sent header %d: connection still open", i)
		}
	}
}

// Slow reader: a client that reads a large page far slower than the write
// timeout allows is cut off; the server does not wait for it (checklist 39).
func TestSlowReaderCutOff(t *testing.T) {
	const size = 6 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, func(c *Config) { c.Server.WriteTimeout = 300 * time.Millisecond })
	p := (&edge.Page{Key: "/big", Status: 200, ContentType: "application/octet-stream", Body: body,
		ETag: `"big"`, GeneratedAt: time.Now()}).Finish()
	if _, err := e.store.Put(p); err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return err
	}}
	conn, err := d.Dial("tcp", e.PublicListener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: %s\r\n\r\n", e.PublicListener.Addr()); err != nil {
		t.Fatal(err)
	}
	// Read 8 KiB every 5 ms (at most 1.6 MB/s): even with 4 MiB in socket
	// buffers (tcp_wmem's usual maximum) the 6 MiB answer needs over a
	// second, so the 300 ms write timeout must cut it short.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	buf := make([]byte, 8<<10)
	total := 0
	for total < size+1024 {
		<-tick.C
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		total += n
		if err != nil {
			break
		}
	}
	if total >= size {
		t.Fatalf("the slow reader got all %d bytes: no write timeout", total)
	}
}

// The public listener serves no admin endpoint and acts on no purge
// method, whatever the path, Host or rewrite header says (checklist 65).
func TestPublicPortHasNoAdmin(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, func(c *Config) { c.Admin.Token = "s3cret" })
	get(t, e.URL+"/keep")
	auth := []string{"Authorization", "Bearer s3cret", "Content-Type", "application/json"}
	for _, c := range []struct{ method, path string }{
		{"POST", "/invalidate"}, {"POST", "/reload"}, {"PURGE", "/keep"}, {"BAN", "/keep"}, {"DELETE", "/keep"},
		{"POST", "/gen"},
	} {
		for _, extra := range [][]string{nil, {"X-Original-URL", "/invalidate"}, {"X-Rewrite-URL", "/invalidate"}, {"Host", "admin"}} {
			if _, err := do(c.method, e.URL+c.path, append(append([]string{}, auth...), extra...)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := e.store.MarkStats(); st.Pending[0]+st.Pending[1]+st.Pending[2]+st.Pending[3] != 0 {
		t.Fatalf("a request on the public port marked pages: %+v", st)
	}
	if r := get(t, e.URL+"/keep"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("page purged through the public port: X-Cache %q", r.Header.Get("X-Cache"))
	}
	// The admin API takes the token in the header only.
	if r, _ := do("POST", e.Admin+"/reload?token=s3cret"); r.Status != 401 {
		t.Fatalf("token in the query string: %d", r.Status)
	}
}

// The traversal list through the admin API: refused or harmless, and no
// file outside the store is created or removed (checklist 17; queue
// messages share invalidate.Decode and Service.Apply, see
// TestApplyRefusesBadURLs).
func TestTraversalThroughAdminAPI(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, func(c *Config) { c.Store.Root = root; c.Admin.Token = "s3cret" })
	get(t, e.URL+"/events/1")
	before := listDir(t, parent)
	for _, u := range []string{
		"/../../etc/passwd", "/%2e%2e/%2e%2e/sentinel", "/..%2f..%2fsentinel", "/..%5c..%5csentinel",
		`/..\\..\\sentinel`, "/%c0%ae%c0%ae/sentinel", "/foo%00.html", "/foo%0d%0aX:1", "/.", "/..",
		"/" + strings.Repeat("a", 300), "http://other-host.example/events/1", "../sentinel", "",
	} {
		for _, field := range []string{"urls", "prefixes"} {
			body := fmt.Sprintf(`{%q:[%q]}`, field, u)
			r, err := postBody(e.Admin+"/invalidate", body, "Authorization", "Bearer s3cret")
			if err != nil || r.Status != 400 && r.Status != 202 {
				t.Errorf("%s %q: %d %v", field, u, r.Status, err)
			}
		}
		r, err := postBody(e.Admin+"/invalidate", fmt.Sprintf(`{"urls":[%q],"hard":true}`, u), "Authorization", "Bearer s3cret")
		if err != nil || r.Status != 400 && r.Status != 202 {
			t.Errorf("hard %q: %d %v", u, r.Status, err)
		}
	}
	if after := listDir(t, parent); after != before {
		t.Fatalf("files changed outside the store:\nbefore %s\nafter  %s", before, after)
	}
	if r := get(t, e.URL+"/events/1"); r.Status != 200 {
		t.Fatalf("the stored page was harmed: %d", r.Status)
	}
}
