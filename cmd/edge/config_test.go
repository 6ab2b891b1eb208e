package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every file in configs/ parses and validates.
func TestConfigsParse(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, f := range files {
		if _, err := LoadConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte("origin:\n  url: http://127.0.0.1:9\nmemory:\n  max_bytes: 64MiB\ncache:\n  lock_timeout: 2s\n  query_ignore: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if cfg.Memory.MaxBytes != 64<<20 || cfg.Cache.LockTimeout != 2*time.Second {
		t.Fatalf("values not read: %+v", cfg)
	}
	if cfg.Origin.Timeout != d.Origin.Timeout || cfg.Listen != d.Listen || cfg.Server.MaxConns != d.Server.MaxConns {
		t.Fatal("defaults not kept for keys the file does not set")
	}
	if cfg.Cache.QueryIgnore == nil || len(cfg.Cache.QueryIgnore) != 0 {
		t.Fatalf("an explicit empty list must stay empty, got %#v", cfg.Cache.QueryIgnore)
	}
	cf := commonFlags{listen: "127.0.0.1:1", origin: "http://o:1", root: "r", admin: "127.0.0.1:2"}
	t.Setenv("EDGE_ADMIN_TOKEN", "from-env")
	cf.apply(&cfg)
	if cfg.Listen != "127.0.0.1:1" || cfg.Origin.URL != "http://o:1" || cfg.Store.Root != "r" ||
		cfg.Admin.Listen != "127.0.0.1:2" || cfg.Admin.Token != "from-env" {
		t.Fatalf("flags/env not applied: %+v", cfg)
	}
}

// A bad file is a clear error naming the key and its line.
func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	cases := []struct {
		name, yaml, want string
		line             int
	}{
		{"unknown key", "origin:\n  url: http://x:1\n  urll: http://y\n", "urll", 3},
		{"wrong type", "origin:\n  url: http://x:1\n  max_conns: lots\n", "lots", 3},
		{"bad duration", "origin:\n  url: http://x:1\ncache:\n  lock_timeout: soon\n", "soon", 4},
		{"negative duration", "origin:\n  url: http://x:1\n  timeout: -1s\n", "origin.timeout", 3},
		{"zero limit", "origin:\n  url: http://x:1\nserver:\n  max_conns: 0\n", "server.max_conns", 4},
		{"bad size", "origin:\n  url: http://x:1\nmemory:\n  max_bytes: 12 parsecs\n", "parsecs", 4},
		{"bad url", "origin:\n  url: ftp://x\n", "origin.url", 2},
		{"missing url", "listen: 127.0.0.1:1\n", "origin.url", 0},
		{"bad level", "origin:\n  url: http://x:1\nlog:\n  level: loud\n", "log.level", 4},
		{"not yaml", "origin: [\n", "", 0},
		{"bad admit", "origin:\n  url: http://x:1\nstore:\n  admit: sometimes\n", "store.admit", 4},
		{"zero admit window", "origin:\n  url: http://x:1\nstore:\n  admit_window: 0s\n", "store.admit_window", 4},
		{"negative miss rate", "origin:\n  url: http://x:1\n  miss_rate_per_client: -1\n", "origin.miss_rate_per_client", 3},
		{"zero miss burst", "origin:\n  url: http://x:1\n  miss_burst_per_client: 0\n", "origin.miss_burst_per_client", 3},
		{"bad nats prefix", "origin:\n  url: http://x:1\nnats:\n  url: nats://127.0.0.1:4222\n  prefix: a.b\n", "nats.prefix", 5},
		{"negative ack wait", "origin:\n  url: http://x:1\nnats:\n  url: nats://127.0.0.1:4222\n  ack_wait: -1s\n", "nats.ack_wait", 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("bad.yaml", []byte(c.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bad.yaml") {
				t.Fatalf("err = %q, want it to name %q", err, c.want)
			}
			if c.line > 0 && ce.Line != c.line {
				t.Fatalf("line = %d, want %d (%v)", ce.Line, c.line, err)
			}
		})
	}
}

// A malformed config makes edge exit 2 with a message naming the key.
func TestBadConfigExitsTwo(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(f, []byte("origin:\n  url: http://127.0.0.1:1\nstore:\n  gzip_level: 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "-config", f}, &bytes.Buffer{}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "store.gzip_level") || !strings.Contains(stderr.String(), ":4") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"serve", "-nosuchflag"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
	if code := run(context.Background(), []string{"frobnicate"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"512": 512, "64KiB": 64 << 10, "8MiB": 8 << 20, "1GiB": 1 << 30, "2GB": 2e9, "1.5MiB": 3 << 19} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "MiB", "1XB", "1e999"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
}

// FuzzParseConfig: any input is either a valid config or a *ConfigError;
// never a panic.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("origin:\n  url: http://x:1\nmemory:\n  max_bytes: 1GiB\n"))
	f.Add([]byte("origin: {url: 'http://[::1]:8'}\ncache: {query_allow: [a, b]}\n"))
	// The inputs a config parser gets wrong: alias bombs, merge keys,
	// duplicate and unknown keys, wrong types, out-of-range sizes and
	// durations, tabs, a document stream, a BOM, binary junk.
	for _, s := range []string{
		"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
		"base: &base {url: 'http://x:1'}\norigin:\n  <<: *base\n",
		"origin: {url: 'http://x:1'}\norigin: {url: 'http://y:2'}\n",
		"origin: {url: 'http://x:1', nope: 1}\n",
		"origin: [1, 2]\nmemory: {max_bytes: [1]}\n",
		"memory: {max_bytes: -1GiB}\n",
		"memory: {max_bytes: 99999999999999999999EiB}\n",
		"origin: {url: 'http://x:1', timeout: -5s}\n",
		"origin: {url: 'http://x:1', timeout: 1e400h}\n",
		"origin:\n\turl: http://x:1\n",
		"origin: {url: 'http://x:1'}\n---\norigin: {url: 'http://y:2'}\n",
		"\ufefforigin: {url: 'http://x:1'}\n",
		"origin: {url: 'ftp://x/../etc'}\n",
		"origin: {url: \"http://x:1\\r\\nHost: evil\"}\n",
		"!!binary AAAA",
		"\x00\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *ConfigError: %v", err)
			}
			return
		}
		if err := cfg.Validate("again", nil); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
	})
}
