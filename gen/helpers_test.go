package gen

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// readResponse fills resp by parsing an HTTP/1.1 response from the wire, as
// the origin client does: status, the given "Name: value" header lines in
// order, and body with its Content-Length.
func readResponse(t testing.TB, resp *fasthttp.Response, status int, body string, header ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, fasthttp.StatusMessage(status))
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	resp.Reset()
	if err := resp.Read(bufio.NewReader(strings.NewReader(b.String()))); err != nil {
		t.Fatalf("parse response: %v\n%s", err, b.String())
	}
}

// newResponse returns a parsed response (see readResponse).
func newResponse(t testing.TB, status int, body string, header ...string) *fasthttp.Response {
	t.Helper()
	resp := new(fasthttp.Response)
	readResponse(t, resp, status, body, header...)
	return resp
}

// html returns a compressible HTML body of at least n bytes.
func html(n int) string {
	var b strings.Builder
	b.WriteString("<!doctype html><html><body>\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<p class=\"row\">Row %d of the generated page.</p>\n", i)
	}
	return b.String()
}
