package demo

import (
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// testServer is a Site served by a real fasthttp.Server on an in-memory
// listener, with a client dialling it.
type testServer struct {
	site   *Site
	srv    *fasthttp.Server
	client *fasthttp.Client
}

// newTestSite returns a Site with no latency unless c says otherwise.
func newTestSite(c Config) *Site {
	if c.Latency == 0 {
		c.Latency = -1
	}
	return New(c)
}

// serve starts site on an in-memory listener; the server is shut down when
// the test ends. Hooks must be set on site before serve.
func serve(t testing.TB, site *Site) *testServer {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: site.Handler}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		_ = ln.Close() // in case Serve had not started: Shutdown then does nothing
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{
		site: site,
		srv:  srv,
		client: &fasthttp.Client{
			Dial:            func(string) (net.Conn, error) { return ln.Dial() },
			MaxConnsPerHost: 64,
		},
	}
}

// response is a copied fasthttp.Response.
type response struct {
	status int
	header map[string]string // canonical name → last value
	body   string
}

// do sends method path with the given header lines ("Name: value") and body.
func (ts *testServer) do(t testing.TB, method, path, body string, header ...string) response {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://demo.test" + path)
	req.Header.SetMethod(method)
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
		req.UseHostHeader = req.UseHostHeader || k == "Host"
	}
	if body != "" {
		req.Header.SetContentType("application/x-www-form-urlencoded")
		req.SetBodyString(body)
	}
	if err := ts.client.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := response{status: resp.StatusCode(), header: map[string]string{}, body: string(resp.Body())}
	for k, v := range resp.Header.All() {
		r.header[string(k)] = string(v)
	}
	return r
}

func (ts *testServer) get(t testing.TB, path string, header ...string) response {
	t.Helper()
	return ts.do(t, fasthttp.MethodGet, path, "", header...)
}

var rowLink = regexp.MustCompile(`href="/(events|people|topics)/(\d+)"`)

// rowTags returns the sorted, distinct tags of the rows a body links to.
func rowTags(body string) []string {
	var tags []string
	singular := map[string]string{"events": "event-", "people": "person-", "topics": "topic-"}
	for _, m := range rowLink.FindAllStringSubmatch(body, -1) {
		tags = append(tags, singular[m[1]]+m[2])
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// splitKeys returns the row tags and the other tags of a Surrogate-Key,
// failing on duplicates.
func splitKeys(t testing.TB, key string) (rows, other []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range strings.Fields(key) {
		if seen[k] {
			t.Errorf("Surrogate-Key %q repeats %q", key, k)
		}
		seen[k] = true
		if strings.HasPrefix(k, "event-") || strings.HasPrefix(k, "person-") || strings.HasPrefix(k, "topic-") {
			rows = append(rows, k)
		} else {
			other = append(other, k)
		}
	}
	slices.Sort(rows)
	return rows, other
}
