package cachekey

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

// testAllow is the QueryAllow list of the table tests.
var testAllow = []string{"a", "b", "page", "q", "callback", "a b", "utm_campaign"}

func mustNew(t testing.TB, r Rules) *Normalizer {
	t.Helper()
	n, err := New(r)
	if err != nil {
		t.Fatalf("New(%+v): %v", r, err)
	}
	return n
}

type normCase struct {
	host, uri string
	key       string // want; for a hostless Normalizer without the host
	outHost   string // want Result.Host; "" means the canonical form of host is not checked
	outURI    string // want Result.URI; "" means key without its host
	bypass    bool
	err       error // want errors.Is(err, err)
}

// runCases checks each case and, on success, the key/URI invariant.
func runCases(t *testing.T, n *Normalizer, cases []normCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.host+" "+tc.uri, func(t *testing.T) {
			prefix := []byte("keep")
			res, buf, err := n.Normalize(prefix, []byte(tc.host), []byte(tc.uri))
			if string(buf[:4]) != "keep" {
				t.Fatalf("buf prefix clobbered: %q", buf)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v (key %q)", err, tc.err, res.Key)
				}
				if len(buf) != len(prefix) {
					t.Errorf("on error buf has %d bytes, want %d", len(buf), len(prefix))
				}
				if !strings.HasPrefix(err.Error(), "cachekey: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want key %q", err, tc.key)
			}
			if string(res.Key) != tc.key {
				t.Errorf("Key = %q, want %q", res.Key, tc.key)
			}
			if tc.outHost != "" && string(res.Host) != tc.outHost {
				t.Errorf("Host = %q, want %q", res.Host, tc.outHost)
			}
			if res.Bypass != tc.bypass {
				t.Errorf("Bypass = %v, want %v", res.Bypass, tc.bypass)
			}
			wantURI := tc.outURI
			if wantURI == "" {
				_, p, q := Split(tc.key)
				wantURI = p
				if q != "" {
					wantURI += "?" + q
				}
			}
			if string(res.URI) != wantURI {
				t.Errorf("URI = %q, want %q", res.URI, wantURI)
			}
			checkInvariants(t, n, res)
		})
	}
}

// checkInvariants checks what every successful Result promises.
func checkInvariants(t testing.TB, n *Normalizer, res Result) {
	t.Helper()
	hostless := len(n.hosts) > 0
	host, path, query := Split(string(res.Key))
	if hostless && host != "" || !hostless && host != string(res.Host) {
		t.Errorf("Split(%q) host = %q, Result.Host = %q", res.Key, host, res.Host)
	}
	if !strings.HasPrefix(path, "/") {
		t.Errorf("Split(%q) path = %q", res.Key, path)
	}
	rejoined := host + path
	if query != "" {
		rejoined += "?" + query
	}
	if rejoined != string(res.Key) {
		t.Errorf("Split(%q) does not round-trip: %q", res.Key, rejoined)
	}
	keyURI := string(res.Key[len(host):])
	if !res.Bypass && keyURI != string(res.URI) {
		t.Errorf("key %q minus host differs from URI %q", res.Key, res.URI)
	}
	if res.Bypass {
		uriPath, _, _ := strings.Cut(string(res.URI), "?")
		if keyURI != uriPath || query != "" {
			t.Errorf("bypass key %q does not match URI %q", res.Key, res.URI)
		}
	}
}

func TestPath(t *testing.T) {
	n := mustNew(t, Rules{QueryAllow: testAllow})
	h := "h.example"
	seg := func(k int) string { return "/" + strings.Repeat("x", k) }
	cases := []normCase{
		{uri: "/", key: "/"},
		{uri: "/a/b", key: "/a/b"},
		{uri: "/a//b", key: "/a/b"},
		{uri: "//a///b//", key: "/a/b/"},
		{uri: "//", key: "/"},
		{uri: "/a/", key: "/a/"},
		{uri: "/Page", key: "/Page"},
		{uri: "/page", key: "/page"},
		{uri: "/.../a", key: "/.../a"},
		{uri: "/a./.b/a..b", key: "/a./.b/a..b"},
		{uri: "/~", key: "/~"},
		{uri: "/aux/con", key: "/aux/con"},
		{uri: "/a;b=c/d:e@f!$&'()*+,=", key: "/a;b=c/d:e@f!$&'()*+,="},

		// Decoding: unreserved (but '.'), sub-delims, ':' and '@'.
		{uri: "/%41%62%7e%2d%5f%30", key: "/Ab~-_0"},
		{uri: "/%40%69%49", key: "/@iI"},
		{uri: "/%21%24%26%27%28%29%2a%2B%2c%3b%3D%3a", key: "/!$&'()*+,;=:"},
		{uri: "/%3f%23%25%20%22%3c%3E%5b%5D%5e%60%7b%7C%7d", key: "/%3F%23%25%20%22%3C%3E%5B%5D%5E%60%7B%7C%7D"},
		{uri: "/%6C", key: "/l"},
		{uri: "/l", key: "/l"},
		// Double encoding stays literal; only the escape's own hex is upper-cased.
		{uri: "/%252e%252e/%252e%252e/etc/passwd", key: "/%252e%252e/%252e%252e/etc/passwd"},
		{uri: "/%25%2a2f", key: "/%25*2f"},
		// Raw bytes that may not appear in a path are escaped.
		{uri: "/a b", key: "/a%20b"},
		{uri: "/\"<>^`{|}[]", key: "/%22%3C%3E%5E%60%7B%7C%7D%5B%5D"},
		{uri: "/caf\xc3\xa9", key: "/caf%C3%A9"},
		{uri: "/caf%c3%a9", key: "/caf%C3%A9"},
		{uri: "/%ef%bf%bd", key: "/%EF%BF%BD"},
		{uri: "/\xf0\x9f\x98\x80", key: "/%F0%9F%98%80"},

		// reliability.md §2.4: traversal out of the cache directory.
		{uri: "/../../etc/passwd", err: ErrBadPath},
		{uri: "/%2e%2e/%2e%2e/etc/passwd", err: ErrBadPath},
		{uri: "/..%2f..%2fetc/passwd", err: ErrBadPath},
		{uri: "/..%5c..%5cetc/passwd", err: ErrBadPath},
		{uri: `/..\..\etc\passwd`, err: ErrBadPath},
		{uri: "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", err: ErrBadPath},
		{uri: "/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/etc/passwd", err: ErrBadPath},
		{uri: "/foo%00.html", err: ErrBadPath},
		{uri: "/foo%0d%0aX:1", err: ErrBadPath},
		{uri: seg(300), err: ErrTooLong},
		{uri: strings.Repeat("/abcd", 1000), err: ErrTooLong},
		{uri: strings.Repeat("/a", 200), key: strings.Repeat("/a", 200)},
		{uri: "/.", err: ErrBadPath},
		{uri: "/..", err: ErrBadPath},
		// reliability.md §2.2 and §2.3: dot segments and encoded separators.
		{uri: "/a/./b", err: ErrBadPath},
		{uri: "/a/x/../b", err: ErrBadPath},
		{uri: "/a/.", err: ErrBadPath},
		{uri: "/a/..", err: ErrBadPath},
		{uri: "/a/../", err: ErrBadPath},
		{uri: "/a//..//b", err: ErrBadPath},
		{uri: "/a%2fb", err: ErrBadPath},
		{uri: "/a%2Fb", err: ErrBadPath},
		{uri: "/a/%2e%2e/b", err: ErrBadPath},
		{uri: "/a/%2E/b", err: ErrBadPath},
		{uri: "/a%2e", err: ErrBadPath},
		{uri: "/a%5Cb", err: ErrBadPath},
		{uri: "/static/..%2faccount/", err: ErrBadPath},
		{uri: "/account/%0Anonexistent.css", err: ErrBadPath},
		{uri: "/account/%00nonexistent.css", err: ErrBadPath},
		{uri: "/account/%3Bnonexistent.css", key: "/account/;nonexistent.css"},
		{uri: "/account/%23nonexistent.css", key: "/account/%23nonexistent.css"},
		{uri: "/account/%3Fname=valnonexistent.css", key: "/account/%3Fname=valnonexistent.css"},
		// Raw and encoded control bytes, backslash, fragment.
		{uri: "/a\\b", err: ErrBadPath},
		{uri: "/a\x00", err: ErrBadPath},
		{uri: "/a\r\nX: 1", err: ErrBadPath},
		{uri: "/a\tb", err: ErrBadPath},
		{uri: "/a\x7f", err: ErrBadPath},
		{uri: "/a%7f", err: ErrBadPath},
		{uri: "/a%1F", err: ErrBadPath},
		{uri: "/a%09", err: ErrBadPath},
		{uri: "/#frag", err: ErrBadPath},
		{uri: "/a#", err: ErrBadPath},
		{uri: "/a?q=1#frag", err: ErrBadPath},
		// Malformed escapes.
		{uri: "/%", err: ErrBadPath},
		{uri: "/%4", err: ErrBadPath},
		{uri: "/%zz", err: ErrBadPath},
		{uri: "/a%g0", err: ErrBadPath},
		{uri: "/a%?", err: ErrBadPath},
		// The decoded path must be UTF-8.
		{uri: "/%c3", err: ErrBadPath},
		{uri: "/%c3/%a9", err: ErrBadPath},
		{uri: "/%c3a", err: ErrBadPath},
		{uri: "/%c3%20", err: ErrBadPath},
		{uri: "/\xff", err: ErrBadPath},
		{uri: "/\xc3", err: ErrBadPath},
		{uri: "/%ed%a0%80", err: ErrBadPath}, // a surrogate
		{uri: "/%f4%90%80%80", err: ErrBadPath},
		// Lengths: segment limit 200, URI limit 2048, after normalisation.
		{uri: seg(200), key: seg(200)},
		{uri: seg(201), err: ErrTooLong},
		{uri: "/" + strings.Repeat("%41", 200), key: "/" + strings.Repeat("A", 200)},
		{uri: "/" + strings.Repeat("\xc3\xa9", 34), err: ErrTooLong}, // 204 bytes escaped
		{uri: "//" + strings.Repeat("/", 5000) + "a", key: "/a"},
		{uri: strings.Repeat("/abc", 512), key: strings.Repeat("/abc", 512)},
		{uri: strings.Repeat("/abc", 512) + "d", err: ErrTooLong},
		{uri: "a", err: ErrBadPath},
	}
	for i := range cases {
		cases[i].host = h
		if cases[i].err == nil {
			cases[i].key = h + cases[i].key
		}
	}
	runCases(t, n, cases)
}

func TestQuery(t *testing.T) {
	n := mustNew(t, Rules{QueryAllow: testAllow})
	h := "h.example"
	cases := []normCase{
		// reliability.md §2.2: order, marketing parameters, cloaking.
		{uri: "/p?a=1&b=2", key: "/p?a=1&b=2"},
		{uri: "/p?b=2&a=1", key: "/p?a=1&b=2"},
		{uri: "/p?utm_source=x&a=1&gclid=3&fbclid=4&utm_=5", key: "/p?a=1"},
		{uri: "/p?utm_source=x", key: "/p"},
		{uri: "/p?callback=a&utm_content=x;callback=b", key: "/p?callback=a"},
		{uri: "/p?a=1;b=2", key: "/p?a=1;b=2"},
		{uri: "/p?a=1%3Bb=2", key: "/p?a=1;b=2"},
		{uri: "/p?", key: "/p"},
		{uri: "/p?&&a=1&&", key: "/p?a=1"},
		{uri: "/p?&", key: "/p"},
		{uri: "/?page=2", key: "/?page=2"},
		// Parameters with the same name keep their order (Django's last wins).
		{uri: "/p?b=1&a=2&a=1", key: "/p?a=2&a=1&b=1"},
		{uri: "/p?a=2&b=1&a=1", key: "/p?a=2&a=1&b=1"},
		{uri: "/p?a=1&a=1", key: "/p?a=1&a=1"},
		{uri: "/p?q=1&page=2&callback=3&b=4&a=5", key: "/p?a=5&b=4&callback=3&page=2&q=1"},
		// Sorting is by decoded name: "a b" < "a=" < "b", "a" < "a b".
		{uri: "/p?b=1&a+b=2&a=3", key: "/p?a=3&a+b=2&b=1"},
		{uri: "/p?a%20b=1&a+b=2", key: "/p?a%20b=1&a+b=2"},
		{uri: "/p?a+b=2&a%20b=1", key: "/p?a+b=2&a%20b=1"},
		// A parameter that is neither allowed nor ignored bypasses the cache.
		{uri: "/p?z=1&a=1&utm_source=x&y=2", key: "/p", outURI: "/p?z=1&a=1&y=2", bypass: true},
		{uri: "/p?b=1&z=%41", key: "/p", outURI: "/p?b=1&z=A", bypass: true},
		{uri: "/p?=1", key: "/p", outURI: "/p?=1", bypass: true},
		{uri: "/p?UTM_source=1", key: "/p", outURI: "/p?UTM_source=1", bypass: true},
		{uri: "/p?A=1", key: "/p", outURI: "/p?A=1", bypass: true},
		// Escapes: '/', '.', '\' allowed and kept; '&', '=', '+' never decoded.
		{uri: "/p?q=%2f%2e%5c", key: "/p?q=%2F%2E%5C"},
		{uri: "/p?q=a%26b%3dc%2bd", key: "/p?q=a%26b%3Dc%2Bd"},
		{uri: "/p?q=%41%7e%40%69%3b%3a", key: "/p?q=A~@i;:"},
		{uri: "/p?q=%252e", key: "/p?q=%252e"},
		{uri: "/p?q=a+b", key: "/p?q=a+b"},
		{uri: "/p?q=a b", key: "/p?q=a%20b"},
		{uri: "/p?q=/a?b", key: "/p?q=%2Fa?b"},
		{uri: "/p?q=//x/../y", key: "/p?q=%2F%2Fx%2F..%2Fy"},
		{uri: "/p?q=a\\b", key: "/p?q=a%5Cb"},
		{uri: "/p?q=\"<>[]{}|^`", key: "/p?q=%22%3C%3E%5B%5D%7B%7D%7C%5E%60"},
		{uri: "/p?q=caf\xc3\xa9", key: "/p?q=caf%C3%A9"},
		{uri: "/p?q=%c0%ae", key: "/p?q=%C0%AE"},
		{uri: "/p?q=a=b=c", key: "/p?q=a=b=c"},
		// Names are decoded ('+' is a space) before matching.
		{uri: "/p?%61=1", key: "/p?a=1"},
		{uri: "/p?a+b=1", key: "/p?a+b=1"},
		{uri: "/p?a%20b=1", key: "/p?a%20b=1"},
		{uri: "/p?utm%5Fsource=1&a=1", key: "/p?a=1"},
		{uri: "/p?utm%5fmedium", key: "/p"},
		{uri: "/p?a", key: "/p?a"},
		{uri: "/p?page&a=", key: "/p?a=&page"},
		// QueryAllow wins over QueryIgnore.
		{uri: "/p?utm_campaign=x&utm_source=y", key: "/p?utm_campaign=x"},
		// Errors.
		{uri: "/p?q=%00", err: ErrBadQuery},
		{uri: "/p?q=%0a", err: ErrBadQuery},
		{uri: "/p?q=%7F", err: ErrBadQuery},
		{uri: "/p?q=\x01", err: ErrBadQuery},
		{uri: "/p?q=a\r\nX:1", err: ErrBadQuery},
		{uri: "/p?utm_source=\x00", err: ErrBadQuery},
		{uri: "/p?q=%zz", err: ErrBadQuery},
		{uri: "/p?q=%", err: ErrBadQuery},
		{uri: "/p?q=%4", err: ErrBadQuery},
		{uri: "/p?q=#", err: ErrBadPath},
		{uri: "/p?q=1&#", err: ErrBadPath},
		// Lengths: the URI limit counts kept parameters only.
		{uri: "/p?q=" + strings.Repeat("x", 2043), key: "/p?q=" + strings.Repeat("x", 2043)},
		{uri: "/p?q=" + strings.Repeat("x", 2044), err: ErrTooLong},
		{uri: "/p?z=" + strings.Repeat("x", 2043), key: "/p", outURI: "/p?z=" + strings.Repeat("x", 2043), bypass: true},
		{uri: "/p?z=" + strings.Repeat("x", 2044), err: ErrTooLong},
		{uri: "/p?q=" + strings.Repeat(" ", 700), err: ErrTooLong},
		{uri: "/p?utm_x=" + strings.Repeat("x", 5000) + "&a=1", key: "/p?a=1"},
		{uri: "/p?" + strings.Repeat("a=1&", 40), key: "/p?" + strings.Repeat("a=1&", 39) + "a=1"},
	}
	for i := range cases {
		cases[i].host = h
		if cases[i].err == nil {
			cases[i].key = h + cases[i].key
		}
	}
	runCases(t, n, cases)
}

func TestQueryRules(t *testing.T) {
	h := []byte("h")
	for _, tc := range []struct {
		rules    Rules
		uri, key string
		bypass   bool
	}{
		{Rules{}, "/p?utm_source=1&gclid=2&fbclid=3", "h/p", false},
		{Rules{}, "/p?a=1", "h/p", true},
		{Rules{QueryIgnore: []string{}}, "/p?utm_source=1", "h/p", true},
		{Rules{QueryIgnore: []string{"x*"}, QueryAllow: []string{"a"}}, "/p?xy=1&x=2&a=3", "h/p?a=3", false},
		{Rules{QueryIgnore: []string{"x*"}}, "/p?utm_source=1", "h/p", true},
		{Rules{QueryIgnore: []string{"*"}}, "/p?anything=1&else", "h/p", false},
		{Rules{QueryAllow: []string{""}}, "/p?=1&=", "h/p?=1&=", false},
		{Rules{QueryAllow: []string{"a&b", "c=d"}}, "/p?a%26b=1&c%3Dd=2", "h/p?a%26b=1&c%3Dd=2", false},
	} {
		n := mustNew(t, tc.rules)
		res, _, err := n.Normalize(nil, h, []byte(tc.uri))
		if err != nil || string(res.Key) != tc.key || res.Bypass != tc.bypass {
			t.Errorf("%+v %q: %q bypass=%v err=%v; want %q bypass=%v", tc.rules, tc.uri, res.Key, res.Bypass, err, tc.key, tc.bypass)
		}
	}
}

func TestURILimit(t *testing.T) {
	n := mustNew(t, Rules{QueryAllow: []string{"a"}, MaxURIBytes: 10, MaxSegmentBytes: 3})
	for _, tc := range []struct {
		uri string
		err error
	}{
		{"/abc/abc/a", nil},
		{"/abc/abc/ab", ErrTooLong},
		{"/abcd", ErrTooLong},
		{"/%41%41%41", nil},
		{"/%41%41%41%41", ErrTooLong},
		{"/a?a=12345", nil},
		{"/a?a=123456", ErrTooLong},
		{"/a?a=1&a=2", nil},
		{"/a?b=1&a=22", ErrTooLong},
	} {
		_, _, err := n.Normalize(nil, []byte("h"), []byte(tc.uri))
		if !errors.Is(err, tc.err) {
			t.Errorf("%q: err = %v, want %v", tc.uri, err, tc.err)
		}
	}
}

func TestFromURL(t *testing.T) {
	hosted := mustNew(t, Rules{QueryAllow: testAllow})
	listed := mustNew(t, Rules{Hosts: []string{"Example.com"}, QueryAllow: testAllow})
	for _, tc := range []struct {
		n              *Normalizer
		raw            string
		key, host, uri string
		bypass         bool
		err            error
	}{
		{hosted, "https://Example.com/a?b=1&a=2", "example.com/a?a=2&b=1", "example.com", "/a?a=2&b=1", false, nil},
		{hosted, "HTTP://example.com:80/a", "example.com/a", "example.com", "/a", false, nil},
		{hosted, "http://example.com:8080", "example.com:8080/", "example.com:8080", "/", false, nil},
		{hosted, "https://example.com?page=2&utm_source=x", "example.com/?page=2", "example.com", "/?page=2", false, nil},
		{hosted, "//example.com/a//b/", "example.com/a/b/", "example.com", "/a/b/", false, nil},
		{hosted, "https://example.com/a?z=1", "example.com/a", "example.com", "/a?z=1", true, nil},
		{hosted, "/a", "", "", "", false, ErrBadHost},
		{hosted, "https:///a", "", "", "", false, ErrBadHost},
		{hosted, "https://example.com/a#frag", "", "", "", false, ErrBadPath},
		{hosted, "https://example.com#frag", "", "", "", false, ErrBadPath},
		{hosted, "https://example.com/%2e%2e/x", "", "", "", false, ErrBadPath},
		{hosted, "ftp://example.com/a", "", "", "", false, ErrBadPath},
		{hosted, "example.com/a", "", "", "", false, ErrBadPath},
		{hosted, "", "", "", "", false, ErrBadPath},
		{listed, "/a?b=1", "/a?b=1", "example.com", "/a?b=1", false, nil},
		{listed, "https://EXAMPLE.com./a", "/a", "example.com", "/a", false, nil},
		{listed, "//example.com", "/", "example.com", "/", false, nil},
		{listed, "https://evil.example/a", "", "", "", false, ErrUnknownHost},
	} {
		res, err := tc.n.FromURL(tc.raw)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("FromURL(%q) err = %v, want %v", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("FromURL(%q): %v", tc.raw, err)
			continue
		}
		if string(res.Key) != tc.key || string(res.Host) != tc.host || string(res.URI) != tc.uri || res.Bypass != tc.bypass {
			t.Errorf("FromURL(%q) = key %q host %q uri %q bypass %v; want %q %q %q %v",
				tc.raw, res.Key, res.Host, res.URI, res.Bypass, tc.key, tc.host, tc.uri, tc.bypass)
		}
		checkInvariants(t, tc.n, res)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ key, host, path, query string }{
		{"example.com/a?b=1", "example.com", "/a", "b=1"},
		{"example.com/", "example.com", "/", ""},
		{"[::1]:8080/x?a=1&b=2", "[::1]:8080", "/x", "a=1&b=2"},
		{"/a/b", "", "/a/b", ""},
		{"/?q=%2Fa?b", "", "/", "q=%2Fa?b"},
	} {
		host, path, query := Split(tc.key)
		if host != tc.host || path != tc.path || query != tc.query {
			t.Errorf("Split(%q) = %q, %q, %q; want %q, %q, %q", tc.key, host, path, query, tc.host, tc.path, tc.query)
		}
	}
}

// The Result's slices must not let an append by the caller clobber another.
func TestResultAliasing(t *testing.T) {
	n := mustNew(t, Rules{QueryAllow: testAllow})
	buf := make([]byte, 0, 1024)
	res, buf, err := n.Normalize(buf, []byte("h.example"), []byte("/a?z=1"))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(res.Key, "XXXX"...)
	_ = append(res.Host, "XXXX"...)
	if string(res.URI) != "/a?z=1" || string(res.Key) != "h.example/a" {
		t.Fatalf("append to Key or Host clobbered the Result: key %q uri %q", res.Key, res.URI)
	}
	// Reusing buf: a second call after the first appends behind it.
	res2, buf, err := n.Normalize(buf, []byte("h.example"), []byte("/b"))
	if err != nil || string(res2.Key) != "h.example/b" || string(res.Key) != "h.example/a" {
		t.Fatalf("second Normalize: %q (first %q), %v", res2.Key, res.Key, err)
	}
	if !bytes.HasPrefix(buf, []byte("h.example/a?z=1")) {
		t.Fatalf("buf = %q", buf)
	}
}

func TestConcurrent(t *testing.T) {
	n := mustNew(t, Rules{QueryAllow: testAllow, Hosts: []string{"example.com", "www.example.com"}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 200 {
				uri := []byte("/events/42?utm_source=x&page=2&b=1")
				if (g+i)%2 == 0 {
					uri = []byte("/a/%7euser/?q=%2f&a=1")
				}
				res, b, err := n.Normalize(buf[:0], []byte("WWW.example.com."), uri)
				if err != nil {
					t.Error(err)
					return
				}
				checkInvariants(t, n, res)
				buf = b
			}
		})
	}
	wg.Wait()
}

func TestNormalizeAllocs(t *testing.T) {
	hosted := mustNew(t, Rules{QueryAllow: testAllow})
	listed := mustNew(t, Rules{QueryAllow: testAllow, Hosts: []string{"example.com", "www.example.com"}})
	buf := make([]byte, 0, 4096)
	for _, tc := range []struct {
		n         *Normalizer
		host, uri string
	}{
		{hosted, "example.com", "/events/42?page=2&utm_source=x"},
		{hosted, "Example.com.:443", "/a//b/caf%c3%a9/%7e?q=x&b=2&a=1&a=0"},
		{hosted, "[2001:DB8::1]:8080", "http://[2001:db8::1]:8080/x?z=1"},
		{listed, "www.example.com", "/events/42?page=2&utm_source=x&gclid=1"},
	} {
		host, uri := []byte(tc.host), []byte(tc.uri)
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := tc.n.Normalize(buf[:0], host, uri); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Normalize(%q, %q): %v allocations, want 0", tc.host, tc.uri, allocs)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	n := mustNew(b, Rules{QueryAllow: []string{"page"}})
	host, uri := []byte("example.com"), []byte("/events/42?page=2&utm_source=x")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(uri)))
	for b.Loop() {
		if _, _, err := n.Normalize(buf[:0], host, uri); err != nil {
			b.Fatal(err)
		}
	}
}
