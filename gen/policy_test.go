package gen

import (
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	const maxBytes = 100
	tests := []struct {
		name   string
		status int
		body   string
		header []string
		want   verdict
	}{
		{name: "200", status: 200, body: "ok", want: verdict{cacheable: true}},
		{name: "301", status: 301, header: []string{"Location: /new"}, want: verdict{cacheable: true}},
		{name: "308", status: 308, header: []string{"Location: /new"}, want: verdict{cacheable: true}},

		{name: "302", status: 302, header: []string{"Location: /tmp"}, want: verdict{reason: "status"}},
		{name: "307", status: 307, header: []string{"Location: /tmp"}, want: verdict{reason: "status"}},
		{name: "500", status: 500, body: "boom", want: verdict{reason: "status"}},
		{name: "503", status: 503, body: "busy", want: verdict{reason: "status"}},
		{name: "204", status: 204, want: verdict{reason: "status"}},
		{name: "206", status: 206, body: "ab", header: []string{"Content-Range: bytes 0-1/10"}, want: verdict{reason: "status"}},

		{name: "404", status: 404, body: "nope", want: verdict{negative: true, reason: "status"}},
		{name: "410", status: 410, body: "gone", want: verdict{negative: true, reason: "status"}},
		{name: "404 public", status: 404, header: []string{"Cache-Control: public, max-age=60"}, want: verdict{negative: true, reason: "status"}},
		{name: "404 set-cookie", status: 404, header: []string{"Set-Cookie: sid=1"}, want: verdict{reason: "set-cookie"}},
		{name: "410 set-cookie", status: 410, header: []string{"Set-Cookie: sid=1"}, want: verdict{reason: "set-cookie"}},
		{name: "404 private", status: 404, header: []string{"Cache-Control: private"}, want: verdict{reason: "cache-control"}},
		{name: "410 no-store", status: 410, header: []string{"Cache-Control: no-store"}, want: verdict{reason: "cache-control"}},
		{name: "404 vary star", status: 404, header: []string{"Vary: *"}, want: verdict{reason: "vary"}},
		{name: "cc second line", status: 200, header: []string{"Cache-Control: public", "Cache-Control: private"}, want: verdict{reason: "cache-control"}},
		{name: "vary second line", status: 200, header: []string{"Vary: Accept-Encoding", "Vary: Accept-Language"}, want: verdict{reason: "vary"}},

		{name: "set-cookie", status: 200, header: []string{"Set-Cookie: sid=1; Path=/; HttpOnly"}, want: verdict{reason: "set-cookie"}},
		{name: "301 set-cookie", status: 301, header: []string{"Location: /x", "Set-Cookie: a=b"}, want: verdict{reason: "set-cookie"}},
		{name: "two cookies", status: 200, header: []string{"Set-Cookie: a=1", "Set-Cookie: b=2"}, want: verdict{reason: "set-cookie"}},

		{name: "cc private", status: 200, header: []string{"Cache-Control: private"}, want: verdict{reason: "cache-control"}},
		{name: "cc no-store", status: 200, header: []string{"Cache-Control: no-store"}, want: verdict{reason: "cache-control"}},
		{name: "cc no-cache", status: 200, header: []string{"Cache-Control: no-cache"}, want: verdict{reason: "cache-control"}},
		{name: "cc private field", status: 200, header: []string{`Cache-Control: private="Set-Cookie"`}, want: verdict{reason: "cache-control"}},
		{name: "cc mixed case", status: 200, header: []string{"Cache-Control: Private"}, want: verdict{reason: "cache-control"}},
		{name: "cc upper case", status: 200, header: []string{"Cache-Control: NO-STORE"}, want: verdict{reason: "cache-control"}},
		{name: "cc spaces", status: 200, header: []string{"Cache-Control: public ,  max-age=60 ,\tno-cache "}, want: verdict{reason: "cache-control"}},
		{name: "cc public", status: 200, header: []string{"Cache-Control: public, max-age=60"}, want: verdict{cacheable: true}},
		{name: "cc s-maxage", status: 200, header: []string{"Cache-Control: s-maxage=300, must-revalidate"}, want: verdict{cacheable: true}},

		{name: "vary star", status: 200, header: []string{"Vary: *"}, want: verdict{reason: "vary"}},
		{name: "vary accept-language", status: 200, header: []string{"Vary: Accept-Language"}, want: verdict{reason: "vary"}},
		{name: "vary mixed", status: 200, header: []string{"Vary: Accept-Encoding, User-Agent"}, want: verdict{reason: "vary"}},
		{name: "vary accept-encoding", status: 200, header: []string{"Vary: Accept-Encoding"}, want: verdict{cacheable: true}},
		{name: "vary cookie", status: 200, header: []string{"Vary: Cookie"}, want: verdict{cacheable: true}},
		{name: "vary both", status: 200, header: []string{"Vary: accept-encoding,COOKIE"}, want: verdict{cacheable: true}},

		{name: "gzip", status: 200, body: "\x1f\x8b", header: []string{"Content-Encoding: gzip"}, want: verdict{reason: "content-encoding"}},
		{name: "br", status: 200, body: "xx", header: []string{"Content-Encoding: br"}, want: verdict{reason: "content-encoding"}},
		{name: "identity", status: 200, body: "ok", header: []string{"Content-Encoding: identity"}, want: verdict{cacheable: true}},

		{name: "at limit", status: 200, body: strings.Repeat("a", maxBytes), want: verdict{cacheable: true}},
		{name: "too large", status: 200, body: strings.Repeat("a", maxBytes+1), want: verdict{reason: "too-large"}},
		{name: "too large 301", status: 301, body: strings.Repeat("a", maxBytes+1), header: []string{"Location: /x"}, want: verdict{reason: "too-large"}},

		// The first failing rule names the reason.
		{name: "cookie before cc", status: 200, header: []string{"Cache-Control: private", "Set-Cookie: a=1"}, want: verdict{reason: "set-cookie"}},
		{name: "cc before vary", status: 200, header: []string{"Vary: *", "Cache-Control: no-store"}, want: verdict{reason: "cache-control"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := newResponse(t, tt.status, tt.body, tt.header...)
			if got := judge(resp, maxBytes); got != tt.want {
				t.Errorf("judge(%d %q) = %+v, want %+v", tt.status, tt.header, got, tt.want)
			}
		})
	}
}

func TestPrivateCacheControl(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"public", false},
		{"public, max-age=60", false},
		{"max-age=0, must-revalidate", false},
		{"no-transform", false},
		{"privateer", false},
		{"x-private", false},
		{"private", true},
		{"PRIVATE", true},
		{"Private", true},
		{"no-store", true},
		{"no-cache", true},
		{`private="Set-Cookie"`, true},
		{`no-cache="Set-Cookie, X-User"`, true},
		{"  private  ", true},
		{"public,no-store", true},
		{"public , max-age=60 , No-Cache", true},
		{"max-age=60,\tprivate", true},
		{",,private,,", true},
	}
	for _, tt := range tests {
		if got := privateCacheControl([]byte(tt.in)); got != tt.want {
			t.Errorf("privateCacheControl(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := privateCacheControl(nil); got {
		t.Errorf("privateCacheControl(nil) = %v, want false", got)
	}
}

func TestVaryKeyed(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"Accept-Encoding", true},
		{"accept-encoding", true},
		{"Cookie", true},
		{"Accept-Encoding, Cookie", true},
		{" Accept-Encoding ,\tCookie ", true},
		{"Accept-Encoding,,Cookie,", true},
		{"*", false},
		{"Accept-Encoding, *", false},
		{"Accept-Language", false},
		{"User-Agent", false},
		{"Origin", false},
		{"Cookie, Authorization", false},
		{"Accept", false},
	}
	for _, tt := range tests {
		if got := varyKeyed([]byte(tt.in)); got != tt.want {
			t.Errorf("varyKeyed(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := varyKeyed(nil); !got {
		t.Errorf("varyKeyed(nil) = %v, want true", got)
	}
}
