package cachekey

import (
	"errors"
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	n := mustNew(t, Rules{QueryAllow: testAllow})
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 61) // 244
	runCases(t, n, []normCase{
		{host: "example.com", uri: "/", key: "example.com/", outHost: "example.com"},
		{host: "GOOD.Example", uri: "/", key: "good.example/"},
		{host: "good.example.", uri: "/", key: "good.example/"},
		{host: "good.example:80", uri: "/", key: "good.example/"},
		{host: "good.example:443", uri: "/", key: "good.example/"},
		{host: "GOOD.example.:80", uri: "/", key: "good.example/"},
		{host: "good.example:8080", uri: "/", key: "good.example:8080/", outHost: "good.example:8080"},
		{host: "good.example.:8080", uri: "/", key: "good.example:8080/"},
		{host: "127.0.0.1:8000", uri: "/", key: "127.0.0.1:8000/"},
		{host: "xn--bcher-kva.example", uri: "/", key: "xn--bcher-kva.example/"},
		{host: long + ".e", uri: "/", key: long + ".e/"},
		{host: "[::1]", uri: "/", key: "[::1]/"},
		{host: "[0:0:0:0:0:0:0:1]:8080", uri: "/", key: "[::1]:8080/"},
		{host: "[2001:DB8::1]:443", uri: "/", key: "[2001:db8::1]/"},
		{host: "[::ffff:1.2.3.4]", uri: "/", key: "[::ffff:1.2.3.4]/"},
		{host: "[1:2:3:4:5:6:7:8]", uri: "/", key: "[1:2:3:4:5:6:7:8]/"},
		{host: "[::]", uri: "/", key: "[::]/"},

		{host: "", uri: "/", err: ErrBadHost},
		{host: ".", uri: "/", err: ErrBadHost},
		{host: "good.example..", uri: "/", err: ErrBadHost},
		{host: ".good.example", uri: "/", err: ErrBadHost},
		{host: "good..example", uri: "/", err: ErrBadHost},
		{host: "good example", uri: "/", err: ErrBadHost},
		{host: "good_example", uri: "/", err: ErrBadHost},
		{host: "user@good.example", uri: "/", err: ErrBadHost},
		{host: "good.example/x", uri: "/", err: ErrBadHost},
		{host: "good.example\x00", uri: "/", err: ErrBadHost},
		{host: "bücher.example", uri: "/", err: ErrBadHost},
		{host: long + ".eeeeeeee", uri: "/", key: long + ".eeeeeeee/"},  // 253 bytes
		{host: long + ".eeeeeeee.", uri: "/", key: long + ".eeeeeeee/"}, // 253 bytes and the root
		{host: long + ".eeeeeeeee", uri: "/", err: ErrBadHost},          // 254 bytes
		{host: "good.example:", uri: "/", err: ErrBadHost},
		{host: "good.example:0", uri: "/", err: ErrBadHost},
		{host: "good.example:080", uri: "/", err: ErrBadHost},
		{host: "good.example:65536", uri: "/", err: ErrBadHost},
		{host: "good.example:8o", uri: "/", err: ErrBadHost},
		{host: "good.example:80:80", uri: "/", err: ErrBadHost},
		{host: ":80", uri: "/", err: ErrBadHost},
		{host: "[::1", uri: "/", err: ErrBadHost},
		{host: "[::1]x", uri: "/", err: ErrBadHost},
		{host: "[::1]:", uri: "/", err: ErrBadHost},
		{host: "[1.2.3.4]", uri: "/", err: ErrBadHost},
		{host: "[::1%25eth0]", uri: "/", err: ErrBadHost},
		{host: "[:::1]", uri: "/", err: ErrBadHost},
		{host: "[1::2::3]", uri: "/", err: ErrBadHost},
		{host: "[1:2:3:4:5:6:7:8:9]", uri: "/", err: ErrBadHost},
		{host: "[1:2:3:4::5:6:7:8]", uri: "/", err: ErrBadHost},
		{host: "[12345::]", uri: "/", err: ErrBadHost},
		{host: "[::ffff:1.2.3.04]", uri: "/", err: ErrBadHost},
		{host: "[::ffff:1.2.3.256]", uri: "/", err: ErrBadHost},
		{host: "[]", uri: "/", err: ErrBadHost},

		// Absolute-form must agree with the Host header (Squid CVE-2016-4553).
		{host: "good.example", uri: "http://GOOD.example./a?q=1", key: "good.example/a?q=1"},
		{host: "good.example", uri: "HTTPS://good.example:443", key: "good.example/"},
		{host: "good.example", uri: "http://good.example?q=1", key: "good.example/?q=1"},
		{host: "good.example:8080", uri: "http://good.example:8080/a", key: "good.example:8080/a"},
		{host: "good.example", uri: "http://evil.example/x", err: ErrBadHost},
		{host: "good.example", uri: "http://good.example:8080/x", err: ErrBadHost},
		{host: "good.example", uri: "http://user@good.example/x", err: ErrBadHost},
		{host: "good.example", uri: "http:///x", err: ErrBadHost},
		{host: "good.example", uri: "http://good.example#x", err: ErrBadPath},
		{host: "good.example", uri: "ftp://good.example/x", err: ErrBadPath},
		{host: "good.example", uri: "*", err: ErrBadPath},
		{host: "good.example", uri: "", err: ErrBadPath},
		{host: "good.example", uri: "x/y", err: ErrBadPath},
	})
}

func TestHostAllowlist(t *testing.T) {
	n := mustNew(t, Rules{Hosts: []string{"Example.com.", "www.example.com", "[::1]:8080"}, QueryAllow: testAllow})
	runCases(t, n, []normCase{
		{host: "example.com", uri: "/a?b=1", key: "/a?b=1", outHost: "example.com"},
		{host: "EXAMPLE.COM.:443", uri: "/a", key: "/a", outHost: "example.com"},
		{host: "www.example.com", uri: "/a", key: "/a", outHost: "example.com"},
		{host: "[0::1]:8080", uri: "/a", key: "/a", outHost: "example.com"},
		{host: "www.example.com", uri: "http://www.example.com/a", key: "/a", outHost: "example.com"},
		{host: "evil.example", uri: "/a", err: ErrUnknownHost},
		{host: "example.com:8080", uri: "/a", err: ErrUnknownHost},
		{host: "[::1]", uri: "/a", err: ErrUnknownHost},
		{host: "www.example.com", uri: "http://example.com/a", err: ErrBadHost},
		{host: "bad host", uri: "/a", err: ErrBadHost},
	})
}

func TestNew(t *testing.T) {
	for _, r := range []Rules{
		{Hosts: []string{"good.example", "bad host"}},
		{Hosts: []string{""}},
		{Hosts: []string{"good.example:99999"}},
	} {
		if _, err := New(r); !errors.Is(err, ErrBadHost) {
			t.Errorf("New(%+v) err = %v, want ErrBadHost", r, err)
		}
	}
	for _, r := range []Rules{{MaxURIBytes: -1}, {MaxSegmentBytes: -1}} {
		if _, err := New(r); err == nil {
			t.Errorf("New(%+v) succeeded", r)
		}
	}
	// New copies the Rules: later changes to the caller's slices do not leak in.
	allow := []string{"a"}
	n := mustNew(t, Rules{QueryAllow: allow})
	allow[0] = "z"
	res, _, err := n.Normalize(nil, []byte("h"), []byte("/?a=1"))
	if err != nil || res.Bypass {
		t.Errorf("after changing the caller's QueryAllow: %+v, %v", res, err)
	}
}
