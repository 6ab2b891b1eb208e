package proxy

import (
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestDoorkeeperSecondSightingWithinWindow(t *testing.T) {
	d := newDoorkeeper(1000)
	if d.again([]byte("/a")) {
		t.Fatal("first sighting reported as seen")
	}
	if !d.again([]byte("/a")) {
		t.Fatal("second sighting not reported")
	}
	// Fill the window with other keys: the filter is cleared, /a forgotten.
	for i := range 1000 {
		d.again(fmt.Appendf(nil, "/k/%d", i))
	}
	if d.again([]byte("/a")) {
		t.Error("a key from before the window was still remembered")
	}
	// Within a window, false positives stay rare.
	d = newDoorkeeper(10000)
	fp := 0
	for i := range 10000 {
		if d.again(fmt.Appendf(nil, "/p/%d", i)) {
			fp++
		}
	}
	if fp > 200 {
		t.Errorf("%d of 10000 new keys reported as seen", fp)
	}
}

// The first disk hit of a page reads only what its client is sent; the
// answer is the same as from memory.
func TestFirstDiskHitServesTheNegotiatedRepresentation(t *testing.T) {
	for _, c := range []struct {
		header       []string
		body, ce     string
		status       int
		contentRange string
	}{
		{[]string{"Accept-Encoding: gzip, br"}, "br(disk page)", "br", 200, ""},
		{[]string{"Accept-Encoding: gzip"}, "gz(disk page)", "gzip", 200, ""},
		{nil, "disk page", "", 200, ""},
		{[]string{"Accept-Encoding: br", "Range: bytes=0-3"}, "disk", "", 206, "bytes 0-3/9"},
	} {
		h := newHarness(t, nil)
		h.store.put(newPage("/d", "disk page"))
		ctx := h.get("/d", c.header...)
		resp := &ctx.Response
		if resp.StatusCode() != c.status || string(resp.Body()) != c.body || respHeader(ctx, "Content-Encoding") != c.ce ||
			respHeader(ctx, "Content-Range") != c.contentRange || respHeader(ctx, "X-Cache") != "HIT" {
			t.Errorf("%q: got %d %q Content-Encoding %q Content-Range %q X-Cache %q", c.header, resp.StatusCode(), resp.Body(),
				respHeader(ctx, "Content-Encoding"), respHeader(ctx, "Content-Range"), respHeader(ctx, "X-Cache"))
		}
		if c.status == fasthttp.StatusOK && respHeader(ctx, "ETag") == "" {
			t.Errorf("%q: no ETag", c.header)
		}
	}
}
