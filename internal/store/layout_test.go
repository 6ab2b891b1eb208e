package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPageDir(t *testing.T) {
	longQuery := "q=" + strings.Repeat("x", 300)
	sum := sha256.Sum256([]byte(longQuery))
	edgeQuery := strings.Repeat("y", 253) // "@q" + 253 = 255 bytes: still readable
	tests := []struct {
		key, want string
	}{
		{"/", "."},
		{"/events/42", "events/42"},
		{"/events/42/", "events/42/@"},
		{"/events?page=2", "events/@qpage=2"},
		{"example.com/a", "example.com/a"},
		{"example.com/", "example.com"},
		{"example.com/a/?x", "example.com/a/@/@qx"},
		{"/?x=1", "@qx=1"},
		{"/a/?x=1", "a/@/@qx=1"},
		{"/a?x=%2F/y%", "a/@qx=%252F%2Fy%25"},
		{"/a?x=1?2", "a/@qx=1?2"},
		{"/@", "%40"},
		{"/@edge/tmp", "%40edge/tmp"},
		{"/@edge/index.db", "%40edge/index.db"},
		{"/a/@q", "a/%40q"},
		{"/index.html", "%69ndex.html"},
		{"/a/index.html.gz/b", "a/%69ndex.html.gz/b"},
		{"/a/index.html.br", "a/%69ndex.html.br"},
		{"/a/index.html.meta/", "a/%69ndex.html.meta/@"},
		{"/a/index.htm", "a/index.htm"},
		{"/a/index.html.old", "a/index.html.old"},
		{"/a%20b/%C3%A9", "a%20b/%C3%A9"},
		{"/a/%2F", "a/%2F"},
		{"/" + strings.Repeat("s", 200), strings.Repeat("s", 200)},
		{"/p?" + longQuery, "p/@h" + hex.EncodeToString(sum[:16])},
		{"/p?" + edgeQuery, "p/@q" + edgeQuery},
		{"/p?" + edgeQuery + "z", "p/@h" + func() string { s := sha256.Sum256([]byte(edgeQuery + "z")); return hex.EncodeToString(s[:16]) }()},
	}
	for _, tt := range tests {
		got, err := pageDir(tt.key)
		if err != nil || got != tt.want {
			t.Errorf("pageDir(%q) = %q, %v; want %q", tt.key, got, err, tt.want)
		}
	}
}

// badKeys are refused by pageDir. Several would escape the root or reach the
// reserved directory if mapped naively.
var badKeys = []string{
	"",
	"events",
	"/../x",
	"/a/../../x",
	"/..",
	"/.",
	"/a/./b",
	"/a/..",
	"/a//b",
	"//",
	"/a\\b",
	"/..\\..\\x\\y",
	"/a\x00b",
	"/a\nb",
	"/a\x7fb",
	"/a?x\x00",
	"/a?x\r\ny",
	"/" + strings.Repeat("s", 201),
	"/a/" + strings.Repeat("s", 300),
	"/%40edge/tmp",
	"/%69ndex.html",
	"/a?",
	"@edge/x",
	"../x",
	"./x",
	"index.html/a",
	"a\\b/x",
	"/" + strings.Repeat("a/", 2000),
	"/a?" + strings.Repeat("q", maxKeyLen),
}

func TestPageDirRejects(t *testing.T) {
	for _, key := range badKeys {
		if got, err := pageDir(key); !errors.Is(err, ErrBadKey) {
			t.Errorf("pageDir(%.60q) = %q, %v; want ErrBadKey", key, got, err)
		}
	}
}

// checkDirShape checks the properties every mapped directory has.
func checkDirShape(t testing.TB, key, dir string) {
	t.Helper()
	if hasPrefixDir(dir, edgeDir) {
		t.Errorf("pageDir(%q) = %q: inside the reserved directory", key, dir)
	}
	if dir == "." {
		return
	}
	if len(dir) > maxDirLen {
		t.Errorf("pageDir(%q): %d bytes", key, len(dir))
	}
	for _, el := range strings.Split(dir, "/") {
		if el == "" || el == "." || el == ".." || len(el) > maxName || isReserved(el) || strings.ContainsAny(el, "\x00\\") {
			t.Errorf("pageDir(%q) = %q: bad element %q", key, dir, el)
		}
	}
}

func TestPageDirDistinct(t *testing.T) {
	// Segments built from the characters the escapes are made of, so that
	// near-collisions (@ vs %40, index.html vs %69ndex.html, / vs %2F in
	// queries, trailing slash vs @) are generated often.
	atoms := []string{"@", "%", "40", "69", "%40", "%69", "i", "ndex.html", "index.html", ".gz", ".meta",
		"a", "b", "q", "h", "/", "%2F", "%25", "=", "&", ".", "?"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(max int) string {
		var b strings.Builder
		for n := rng.IntN(max) + 1; n > 0; n-- {
			b.WriteString(atoms[rng.IntN(len(atoms))])
		}
		return b.String()
	}
	seen := make(map[string]string)
	valid := 0
	for i := 0; i < 20000 && valid < 5000; i++ {
		key := ""
		if rng.IntN(4) == 0 {
			key = word(2)
		}
		for n := rng.IntN(4); n >= 0; n-- {
			key += "/" + word(3)
		}
		if rng.IntN(3) == 0 {
			key += "/"
		}
		if rng.IntN(3) == 0 {
			key += "?" + word(4)
		}
		dir, err := pageDir(key)
		if err != nil {
			continue
		}
		valid++
		checkDirShape(t, key, dir)
		// A store holds keys of one mode: with a host or without.
		mode := "host:"
		if key[0] == '/' {
			mode = "path:"
		}
		if other, dup := seen[mode+dir]; dup && other != key {
			t.Fatalf("keys %q and %q both map to %q", other, key, dir)
		}
		seen[mode+dir] = key
	}
	if valid < 2000 {
		t.Fatalf("only %d valid keys generated", valid)
	}
}

func FuzzPageDir(f *testing.F) {
	for _, k := range append([]string{"/", "/events/42/", "/a?b=/c", "h.example/@x/index.html"}, badKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		dir, err := pageDir(key)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("pageDir(%q): %v does not wrap ErrBadKey", key, err)
			}
			return
		}
		checkDirShape(t, key, dir)
	})
}
