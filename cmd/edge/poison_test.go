package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/pregen/edge/internal/testenv"
)

// unkeyedHeaders are the request headers web cache poisoning research
// found origins acting on (Kettle 2018/2020, Param Miner, the top of the
// Web Cache Vulnerability Scanner's header list), CPDoS method overrides
// included.
var unkeyedHeaders = []string{
	"X-Forwarded-Host", "X-Forwarded-Scheme", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Server",
	"X-Forwarded-For", "X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Uri", "X-Forwarded-Ssl",
	"X-Forwarded-Protocol", "X-Url-Scheme", "Front-End-Https", "X-Host", "X-Http-Host-Override",
	"X-Original-Url", "X-Original-Host", "X-Original-Uri", "X-Rewrite-Url", "X-Override-Url",
	"Forwarded", "X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X-Real-Ip",
	"X-Client-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Originating-Ip", "True-Client-Ip",
	"Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Proxyuser-Ip",
	"Accept-Language", "User-Agent", "Origin", "Referer", "X-Requested-With",
	"Accept", "X-Wap-Profile", "Cookie", "Authorization-Not", "X-Api-Version",
	"Content-Type", "X-Timezone", "X-Country", "X-Geo", "Via",
	"Max-Forwards", "X-Debug", "X-Custom-Ip-Authorization", "X-Backend", "X-Frame-Options",
	"Upgrade-Insecure-Requests", "Dnt", "X-Csrftoken", "X-Middleware-Prefetch", "Range-Not",
}

// gunicornLike is an echoing origin that also fails like a strict
// application server would on request-specific junk (CPDoS): 405 on a
// method override, 400 on an oversized or metacharacter header.
func gunicornLike(c *testenv.Conn, r *testenv.Request) bool {
	switch {
	case r.Header.Get("X-Http-Method-Override") != "" || r.Header.Get("X-Http-Method") != "" ||
		r.Header.Get("X-Method-Override") != "":
		return c.Write(testenv.Reply(405, "method override refused", "Content-Type: text/plain"))
	case len(r.Raw) > 4094 || strings.ContainsAny(string(r.Raw), "\a\b\v\f\x00\x1b"):
		return c.Write(testenv.Reply(400, "bad request", "Content-Type: text/plain"))
	}
	return testenv.Echo(c, r)
}

// An unkeyed header sent on a miss never shapes the stored page: the clean
// request that follows gets a page with no trace of it and no error
// (checklist 26, 41; §2.1, §2.7). edge fills pages with a clean request of
// its own and sets X-Forwarded-* itself.
func TestUnkeyedHeadersNeverPoison(t *testing.T) {
	o := testenv.StartOrigin(t, gunicornLike)
	e := startEdge(t, o.URL, nil)
	host := e.PublicListener.Addr().String()
	check := func(name, uri string, hdr ...string) {
		t.Helper()
		get(t, e.URL+uri, hdr...) // the attacker's miss
		clean := get(t, e.URL+uri)
		if clean.Status != 200 || strings.Contains(strings.ToLower(clean.Body), "evil") {
			t.Errorf("%s: clean request got %d %.300q", name, clean.Status, clean.Body)
		}
	}
	for i, h := range unkeyedHeaders {
		check(h, "/poison/"+itoa(i), h, "evil-"+itoa(i)+".example")
	}
	// CPDoS: oversized headers (HHO) and metacharacters (HMC).
	var hho []string
	for i := range 60 {
		hho = append(hho, "X-Oversized-"+itoa(i), strings.Repeat("z", 80))
	}
	check("HHO", "/poison/hho", hho...)
	addr := e.PublicListener.Addr().String()
	testenv.RoundTrip(t, addr, "GET /poison/hmc HTTP/1.1\r\nHost: "+addr+"\r\nX-Metachar-Header: evil\a\r\n\r\n")
	check("HMC", "/poison/hmc")
	for _, r := range o.Requests() {
		if strings.Contains(strings.ToLower(string(r.Raw)), "evil") {
			t.Errorf("the origin received an attacker's header on a fill: %.300q", r.Raw)
		}
		if got := r.Header.Get("X-Forwarded-Host"); got != "" && got != host {
			t.Errorf("X-Forwarded-Host %q reached the origin", got)
		}
		if got := r.Header.Get("X-Forwarded-Proto"); got != "" && got != "http" {
			t.Errorf("X-Forwarded-Proto %q reached the origin", got)
		}
	}
}

// Pass-through (a logged-in request) forwards the client's headers but
// replaces the forwarding ones with edge's own: a client can neither spoof
// them nor remove them with a Connection header (§2.1, §2.12; checklist 33).
func TestPassReplacesForwardingHeaders(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Echo)
	e := startEdge(t, o.URL, nil)
	r := get(t, e.URL+"/me", "Cookie", "sessionid=abc", "X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "https-evil", "X-Forwarded-For", "6.6.6.6", "X-Original-URL", "/admin",
		"X-Rewrite-URL", "/admin", "Forwarded", "host=evil.example", "Connection", "X-Forwarded-For, X-Forwarded-Host")
	if r.Header.Get("X-Cache") != "BYPASS" {
		t.Fatalf("X-Cache %q", r.Header.Get("X-Cache"))
	}
	reqs := o.Requests()
	got := reqs[len(reqs)-1]
	for _, bad := range []string{"evil", "6.6.6.6", "/admin"} {
		if strings.Contains(string(got.Raw), bad) {
			t.Errorf("origin saw %q: %q", bad, got.Raw)
		}
	}
	if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("edge's own forwarding headers missing: %q", got.Raw)
	}
}

// Web cache deception: a logged-in victim's request for a private page
// dressed as a static file is never stored; the attacker's anonymous
// request that follows is a miss that gets the anonymous page (checklist
// 25, §2.3). The cookie spellings of checklist 7 bypass too.
func TestWebCacheDeception(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Echo) // the page shows the request's cookies
	e := startEdge(t, o.URL, nil)
	addr := e.PublicListener.Addr().String()
	victim := "Cookie: theme=dark; sessionid=victim-secret\r\n"
	for _, p := range []string{
		"/account/", "/account/.css", "/account/nonexistent.css", "/account/../nonexistent.css",
		"/account/%2e%2e/nonexistent.css", "/account/%0Anonexistent.css", "/account/%00nonexistent.css",
		"/account/%3Bnonexistent.css", "/account/%23nonexistent.css", "/account/%3Fname=valnonexistent.css",
		"/account/%26name=valnonexistent.css", "/static/..%2faccount/", "/account;x.css", "/robots.txt",
		"/favicon.ico", "/account/x.js?cb=1",
	} {
		for _, cookies := range []string{
			victim,
			"Cookie: theme=dark\r\nCookie: sessionid=victim-secret\r\n", // split over two lines
			"Cookie:  sessionid=victim-secret ;theme=dark\r\n",          // odd spacing
			"Authorization: Basic dmljdGltOnNlY3JldA==\r\nX-Victim: victim-secret\r\n",
		} {
			r, _ := testenv.RoundTrip(t, addr, "GET "+p+" HTTP/1.1\r\nHost: "+addr+"\r\n"+cookies+"Connection: close\r\n\r\n")
			if r != nil && r.Status == 200 && r.Header.Get("X-Cache") != "BYPASS" {
				t.Errorf("%s with %q: X-Cache %q, want BYPASS", p, cookies, r.Header.Get("X-Cache"))
			}
			a, _ := testenv.RoundTrip(t, addr, "GET "+p+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
			if a != nil && strings.Contains(string(a.Body), "victim") {
				t.Fatalf("%s: the anonymous request got the victim's page (X-Cache %q)", p, a.Header.Get("X-Cache"))
			}
		}
	}
}

// Logged-in and anonymous requests for one uncached page at the same time:
// logged-in requests never join the anonymous generation, every logged-in
// response is its own, and no anonymous response carries a session
// (checklist 5, §2.10).
func TestCollapseNeverMixesIdentities(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 64)
	o := testenv.StartOrigin(t, func(c *testenv.Conn, r *testenv.Request) bool {
		arrived <- struct{}{}
		c.Hold(release)
		return testenv.Echo(c, r)
	})
	e := startEdge(t, o.URL, func(c *Config) { c.Origin.Concurrency = 32 })
	const n = 10
	var wg sync.WaitGroup
	bodies := make([]string, 2*n)
	for i := range 2 * n {
		wg.Go(func() {
			var hdr []string
			if i%2 == 1 {
				hdr = []string{"Cookie", "sessionid=user" + itoa(i)}
			}
			r, err := do("GET", e.URL+"/together", hdr...)
			if err != nil {
				t.Error(err)
			}
			bodies[i] = r.Body
		})
	}
	// The anonymous generation and every logged-in request reach the
	// origin while the generation is still running.
	for range n + 1 {
		<-arrived
	}
	close(release)
	wg.Wait()
	for i, b := range bodies {
		switch {
		case i%2 == 1 && !strings.Contains(b, "sessionid=user"+itoa(i)):
			t.Errorf("logged-in request %d got another response: %.200q", i, b)
		case i%2 == 0 && strings.Contains(b, "sessionid"):
			t.Errorf("anonymous request %d got a session's page: %.200q", i, b)
		}
	}
	if got := o.Count("/together"); got != n+1 {
		t.Errorf("origin requests %d, want %d (one generation, every logged-in request)", got, n+1)
	}
	if p, err := e.store.Get("/together"); err != nil || strings.Contains(string(p.Body), "sessionid") {
		t.Errorf("stored page: %v", err)
	}
}

// A client cannot force an origin fetch of a stored page with request
// cache directives (checklist 10, ATS ignore_client_no_cache).
func TestClientCannotForceOriginFetch(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, nil)
	get(t, e.URL+"/cc")
	for _, h := range [][]string{{"Cache-Control", "no-cache"}, {"Pragma", "no-cache"}, {"Cache-Control", "max-age=0"},
		{"Cache-Control", "no-store"}} {
		if r := get(t, e.URL+"/cc", h...); r.Header.Get("X-Cache") != "HIT" {
			t.Errorf("%v: X-Cache %q", h, r.Header.Get("X-Cache"))
		}
	}
	if n := o.Count("/cc"); n != 1 {
		t.Fatalf("origin requests %d, want 1", n)
	}
}

// A HEAD request for an uncached page (a crawler's first visit) never
// leaves an empty body behind for the GET that follows (checklist 14).
func TestHeadMissThenGet(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, nil)
	if r, err := do("HEAD", e.URL+"/headfirst"); err != nil || r.Status != 200 || r.Body != "" {
		t.Fatalf("HEAD: %v %v", r, err)
	}
	r := get(t, e.URL+"/headfirst")
	if r.Status != 200 || !strings.Contains(r.Body, "<h1>/headfirst</h1>") {
		t.Fatalf("GET after HEAD: %d %q", r.Status, r.Body)
	}
	for _, req := range o.Requests() {
		if req.Method != "GET" {
			t.Errorf("the origin got a %s: fills are GETs", req.Method)
		}
	}
}
