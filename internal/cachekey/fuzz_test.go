package cachekey

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks the invariants of every successful Normalize, for a
// Normalizer that keys the host and for one with an allowlist. The seeds in
// testdata/fuzz/FuzzNormalize hold the reliability.md §2.2 and §2.4 inputs.
func FuzzNormalize(f *testing.F) {
	for _, s := range [][2]string{
		{"example.com", "/events/42?page=2&utm_source=x"},
		{"EXAMPLE.com.:80", "http://example.com/a//b/?b=2&a=1"},
		{"[::1]:8080", "/%7euser/caf%c3%a9?q=%2f%2E&q=a+b"},
		{"example.com", "/a%252e%252e/%3F%23?callback=a&utm_content=x;callback=b"},
		{"example.com", "/a b/\"<>/\xc3\xa9?z=1&a=%41"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	allow := []string{"a", "b", "page", "q", "callback", "a b"}
	hosted := mustNew(f, Rules{QueryAllow: allow, MaxURIBytes: 256, MaxSegmentBytes: 40})
	listed := mustNew(f, Rules{QueryAllow: allow, Hosts: []string{"example.com", "[::1]:8080"}})
	sentinels := []error{ErrBadPath, ErrBadQuery, ErrBadHost, ErrUnknownHost, ErrTooLong}

	f.Fuzz(func(t *testing.T, host, uri []byte) {
		for _, n := range []*Normalizer{hosted, listed} {
			buf := []byte("prefix")
			res, buf, err := n.Normalize(buf, host, uri)
			if err != nil {
				if string(buf) != "prefix" {
					t.Fatalf("on error buf = %q", buf)
				}
				if !isAny(err, sentinels) {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				continue
			}
			if !bytes.HasPrefix(buf, []byte("prefix")) {
				t.Fatalf("buf prefix clobbered: %q", buf)
			}
			checkKey(t, res.Key)
			checkInvariants(t, n, res)
			if len(res.URI) > n.maxURI {
				t.Fatalf("URI %q over %d bytes", res.URI, n.maxURI)
			}
			// Idempotent: what the origin is sent normalises to the same Result.
			again, _, err := n.Normalize(nil, res.Host, res.URI)
			if err != nil {
				t.Fatalf("Normalize(%q, %q) again: %v (input %q %q)", res.Host, res.URI, err, host, uri)
			}
			if !bytes.Equal(again.Key, res.Key) || !bytes.Equal(again.URI, res.URI) ||
				!bytes.Equal(again.Host, res.Host) || again.Bypass != res.Bypass {
				t.Fatalf("not idempotent: %+v then %+v (input %q %q)", res, again, host, uri)
			}
		}
	})
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// checkKey checks the byte-level promises of the package documentation.
func checkKey(t *testing.T, key []byte) {
	t.Helper()
	for _, bad := range []string{"/../", "/./", "//", "\\", "\x00", "#", "%40", "%69", "%49"} {
		if bytes.Contains(key, []byte(bad)) {
			t.Fatalf("key %q contains %q", key, bad)
		}
	}
	for _, c := range key {
		if c <= 0x20 || c >= 0x7F {
			t.Fatalf("key %q has byte %#02x", key, c)
		}
	}
	_, path, query := Split(string(key))
	if bytes.ContainsAny([]byte(query), "/#") {
		t.Fatalf("key %q has '/' or '#' in its query", key)
	}
	if bytes.HasSuffix([]byte(path), []byte("/.")) || bytes.HasSuffix([]byte(path), []byte("/..")) {
		t.Fatalf("key %q ends in a dot segment", key)
	}
	var decoded []byte
	for i := 0; i < len(key); i++ {
		if key[i] != '%' {
			continue
		}
		if i+2 >= len(key) || unhex(key[i+1]) < 0 || unhex(key[i+2]) < 0 ||
			key[i+1] >= 'a' || key[i+2] >= 'a' {
			t.Fatalf("key %q has a bad escape at %d", key, i)
		}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' {
			b, _ := escapeAt([]byte(path), i)
			if class[b]&pathDecode != 0 || b == '/' || b == '.' || b == '\\' || isControl(b) {
				t.Fatalf("path %q keeps escape %q", path, path[i:i+3])
			}
			c = b
			i += 2
		}
		decoded = append(decoded, c)
	}
	if !utf8.Valid(decoded) {
		t.Fatalf("path %q decodes to invalid UTF-8", path)
	}
}
