package gen

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestZZExplore(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nCache-Control: public\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nVary: Accept-Encoding\r\nVary: Accept-Language\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\n\r\n",
	} {
		resp := new(fasthttp.Response)
		if err := resp.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			t.Fatal(err)
		}
		v := judge(resp, 1<<20)
		p := buildPage("k", resp, time.Time{}, true)
		t.Logf("%+v ct=%q hdr=%q", v, p.ContentType, p.Header)
	}
}
