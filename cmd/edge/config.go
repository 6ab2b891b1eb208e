package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pregen/edge/proxy"
	"go.yaml.in/yaml/v3"
)

// Config is edge's whole configuration. Every field's zero value means the
// default written beside it; DefaultConfig returns them filled in. A YAML
// file (-config) is decoded over the defaults, then flags override it.
type Config struct {
	// Listen is the public address. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// Hosts is the allowlist of public host names. Empty: every host is
	// served and is part of the cache key. Non-empty: other hosts get a 421
	// and the key has no host (the first name is sent to the origin).
	Hosts  []string     `yaml:"hosts"`
	Origin OriginConfig `yaml:"origin"`
	Store  StoreConfig  `yaml:"store"`
	Memory MemoryConfig `yaml:"memory"`
	Cache  CacheConfig  `yaml:"cache"`
	Server ServerConfig `yaml:"server"`
	Admin  AdminConfig  `yaml:"admin"`
	Log    LogConfig    `yaml:"log"`
	Regen  RegenConfig  `yaml:"regen"` // see invalidate_wire.go
	Queue  QueueConfig  `yaml:"queue"`
	NATS   NATSConfig   `yaml:"nats"`  // cluster mode; see cluster.go
	S3     S3Config     `yaml:"s3"`    // see s3_wire.go
	Sweep  SweepConfig  `yaml:"sweep"` // see sweep_wire.go
}

// OriginConfig describes the dynamic origin and how hard edge may push it.
type OriginConfig struct {
	// URL of the origin, e.g. "http://127.0.0.1:8000". Required.
	URL string `yaml:"url"`
	// ConnectTimeout default 3s; FirstByteTimeout default 30s; Timeout
	// (whole exchange) default 60s.
	ConnectTimeout   time.Duration `yaml:"connect_timeout"`
	FirstByteTimeout time.Duration `yaml:"first_byte_timeout"`
	Timeout          time.Duration `yaml:"timeout"`
	// MaxConns caps connections to the origin. Default 64.
	MaxConns int `yaml:"max_conns"`
	// Concurrency is the origin budget: requests in flight at once, shared
	// by misses, pass-through, invalidations, the sweep and bulk runs.
	// Default 8. Reloadable.
	Concurrency int `yaml:"concurrency"`
	// MaxResponseBytes caps a response body read from the origin. Default 64MiB.
	MaxResponseBytes ByteSize `yaml:"max_response_bytes"`
	// ForwardedProto is sent as X-Forwarded-Proto. Default "http"; set
	// "https" when TLS is terminated in front of edge.
	ForwardedProto string `yaml:"forwarded_proto"`
	// MissRatePerClient caps the misses per second of one client (an IPv4
	// address or an IPv6 /64): a miss over it gets a 429 with Retry-After
	// (anonymous pass-through, e.g. unknown query parameters, counts too);
	// hits and private requests are never limited. Default 0: off (behind a proxy every client
	// has the proxy's address). Reloadable.
	MissRatePerClient float64 `yaml:"miss_rate_per_client"`
	// MissBurstPerClient is how many misses a client may make at once
	// before MissRatePerClient applies. Default 20. Reloadable.
	MissBurstPerClient int `yaml:"miss_burst_per_client"`
}

// StoreConfig describes the disk tier.
type StoreConfig struct {
	// Root is the directory pages are written under. Default "data".
	Root string `yaml:"root"`
	// MaxObjectBytes: larger responses are passed through, never stored.
	// Default 8MiB.
	MaxObjectBytes ByteSize `yaml:"max_object_bytes"`
	// NoSync skips fsync (faster, not crash-safe). Default false.
	NoSync bool `yaml:"no_sync"`
	// GzipLevel (default 6) and BrotliLevel (default 5) of the stored variants.
	GzipLevel   int `yaml:"gzip_level"`
	BrotliLevel int `yaml:"brotli_level"`
	// Admit decides which misses are stored: "always" (default), "second-hit"
	// (only on a page's second miss within AdmitWindow) or "known" (only
	// keys an edge gen run or sitemap named). Misses not admitted are still
	// generated and served. Reloadable.
	Admit string `yaml:"admit"`
	// AdmitWindow is how soon the second miss must follow the first under
	// "second-hit". Default 10m. Reloadable.
	AdmitWindow time.Duration `yaml:"admit_window"`
	// MaxBytes bounds the pages stored (every variant; sidecars and
	// directories excluded). Over it, the least recently served pages are
	// evicted until the store is at 90% of it. Default 0: unbounded.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MinFreeBytes is the free space to keep on the store's file system:
	// under it, the least recently served pages are evicted until a tenth
	// more than this is free. Default 0: free space is not watched (a full
	// disk then only stops new pages from being stored; they are still
	// served).
	MinFreeBytes ByteSize `yaml:"min_free_bytes"`
}

// MemoryConfig describes the memory tier.
type MemoryConfig struct {
	// MaxBytes bounds the memory tier. Default 256MiB. Reloadable.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// CacheConfig holds the rules of what is cached and how misses behave.
type CacheConfig struct {
	// BypassCookies: requests carrying any of these cookies go straight to
	// the origin and are never stored. Default [sessionid]. Reloadable.
	BypassCookies []string `yaml:"bypass_cookies"`
	// BypassPaths: path prefixes always passed through. Default none. Reloadable.
	BypassPaths []string `yaml:"bypass_paths"`
	// QueryAllow: query parameters that are part of the key. Default none.
	QueryAllow []string `yaml:"query_allow"`
	// QueryIgnore: parameters dropped from the key and the origin request
	// ("utm_*" is a prefix). Default [utm_*, gclid, fbclid]. Any other
	// parameter makes the request bypass the cache.
	QueryIgnore []string `yaml:"query_ignore"`
	// NegativeTTL: how long a 404/410 is remembered in memory. Default 10s;
	// a negative value disables it. Reloadable.
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// UncacheableTTL: how long a key whose response was not cacheable skips
	// coalescing. Default 30s. Reloadable.
	UncacheableTTL time.Duration `yaml:"uncacheable_ttl"`
	// LockTimeout: how long a request waits for another's generation of the
	// same page. Default 5s. Reloadable.
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// MaxWaiters caps the requests waiting for one generation. Default 4096.
	// Reloadable.
	MaxWaiters int `yaml:"max_waiters"`
	// MaxURIBytes: longer request targets get a 414. Default 2048.
	MaxURIBytes int `yaml:"max_uri_bytes"`
}

// ServerConfig bounds the public listener; none of these is unlimited.
type ServerConfig struct {
	ReadTimeout     time.Duration `yaml:"read_timeout"`     // default 10s
	WriteTimeout    time.Duration `yaml:"write_timeout"`    // default 30s
	IdleTimeout     time.Duration `yaml:"idle_timeout"`     // default 60s
	MaxHeaderBytes  ByteSize      `yaml:"max_header_bytes"` // default 8KiB (431 beyond)
	MaxBodyBytes    ByteSize      `yaml:"max_body_bytes"`   // default 1MiB (413 beyond)
	MaxConns        int           `yaml:"max_conns"`        // default 10000
	MaxConnsPerIP   int           `yaml:"max_conns_per_ip"` // default 1000
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // default 30s: drain time on SIGTERM
}

// AdminConfig describes the admin listener.
type AdminConfig struct {
	// Listen default "127.0.0.1:9091"; keep it off public interfaces.
	Listen string `yaml:"listen"`
	// Token guards mutating endpoints (Authorization: Bearer). The
	// EDGE_ADMIN_TOKEN environment variable overrides it.
	Token string `yaml:"token"`
}

// LogConfig selects the log format ("text" or "json", default text) and
// level ("debug", "info", "warn", "error"; default info, reloadable).
type LogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		Origin: OriginConfig{
			ConnectTimeout: 3 * time.Second, FirstByteTimeout: 30 * time.Second, Timeout: 60 * time.Second,
			MaxConns: 64, Concurrency: 8, MaxResponseBytes: 64 << 20, ForwardedProto: "http",
			MissBurstPerClient: 20,
		},
		Store: StoreConfig{
			Root: "data", MaxObjectBytes: 8 << 20, GzipLevel: 6, BrotliLevel: 5,
			Admit: "always", AdmitWindow: 10 * time.Minute,
		},
		Memory: MemoryConfig{MaxBytes: 256 << 20},
		Cache: CacheConfig{
			BypassCookies: []string{"sessionid"},
			QueryIgnore:   []string{"utm_*", "gclid", "fbclid"},
			NegativeTTL:   10 * time.Second, UncacheableTTL: 30 * time.Second,
			LockTimeout: 5 * time.Second, MaxWaiters: 4096, MaxURIBytes: 2048,
		},
		Server: ServerConfig{
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
			MaxHeaderBytes: 8 << 10, MaxBodyBytes: 1 << 20, MaxConns: 10000, MaxConnsPerIP: 1000,
			ShutdownTimeout: 30 * time.Second,
		},
		Admin: AdminConfig{Listen: "127.0.0.1:9091"},
		Log:   LogConfig{Format: "text", Level: "info"},
		Regen: DefaultRegenConfig(),
		Queue: DefaultQueueConfig(),
		S3:    DefaultS3Config(),
		Sweep: DefaultSweepConfig(),
	}
}

// ConfigError is a problem with one key of a config file.
type ConfigError struct {
	File string
	Line int
	Key  string
	Err  error
}

func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads a YAML file over the defaults and validates it. Unknown
// keys, wrong types and invalid values are errors naming the key and line.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes already read; name is used in errors.
func ParseConfig(name string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, yamlError(name, err)
	}
	if len(root.Content) == 0 { // an empty file means all defaults
		return cfg, cfg.Validate(name, &root)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, yamlError(name, err)
	}
	return cfg, cfg.Validate(name, &root)
}

// yamlError turns the decoder's "line N: …" messages into ConfigErrors.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return &ConfigError{File: name, Line: lineOfMsg(te.Errors[0]), Err: errors.New(te.Errors[0])}
	}
	return &ConfigError{File: name, Line: lineOfMsg(err.Error()), Err: err}
}

func lineOfMsg(msg string) int {
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

// Validate checks values the decoder cannot; root (may be nil) gives lines.
func (c *Config) Validate(name string, root *yaml.Node) error {
	bad := func(key string, format string, args ...any) error {
		return &ConfigError{File: name, Line: lineOf(root, key), Key: key, Err: fmt.Errorf(format, args...)}
	}
	if c.Origin.URL == "" {
		return bad("origin.url", "required (e.g. http://127.0.0.1:8000), or pass -origin")
	}
	if u, err := url.Parse(c.Origin.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("origin.url", "%q is not an http(s) URL", c.Origin.URL)
	}
	for key, d := range map[string]time.Duration{
		"origin.connect_timeout": c.Origin.ConnectTimeout, "origin.first_byte_timeout": c.Origin.FirstByteTimeout,
		"origin.timeout": c.Origin.Timeout, "cache.uncacheable_ttl": c.Cache.UncacheableTTL,
		"cache.lock_timeout": c.Cache.LockTimeout, "server.read_timeout": c.Server.ReadTimeout,
		"server.write_timeout": c.Server.WriteTimeout, "server.idle_timeout": c.Server.IdleTimeout,
		"server.shutdown_timeout": c.Server.ShutdownTimeout, "store.admit_window": c.Store.AdmitWindow,
	} {
		if d <= 0 {
			return bad(key, "must be a positive duration such as 5s")
		}
	}
	for key, n := range map[string]int64{
		"origin.max_conns": int64(c.Origin.MaxConns), "origin.concurrency": int64(c.Origin.Concurrency),
		"origin.max_response_bytes": int64(c.Origin.MaxResponseBytes), "store.max_object_bytes": int64(c.Store.MaxObjectBytes),
		"memory.max_bytes": int64(c.Memory.MaxBytes), "cache.max_waiters": int64(c.Cache.MaxWaiters),
		"cache.max_uri_bytes": int64(c.Cache.MaxURIBytes), "server.max_header_bytes": int64(c.Server.MaxHeaderBytes),
		"server.max_body_bytes": int64(c.Server.MaxBodyBytes), "server.max_conns": int64(c.Server.MaxConns),
		"server.max_conns_per_ip": int64(c.Server.MaxConnsPerIP), "origin.miss_burst_per_client": int64(c.Origin.MissBurstPerClient),
	} {
		if n <= 0 {
			return bad(key, "must be positive (nothing is unlimited)")
		}
	}
	if _, err := proxy.ParseAdmission(c.Store.Admit); err != nil || c.Store.Admit == "" {
		return bad("store.admit", "must be always, second-hit or known, not %q", c.Store.Admit)
	}
	if r := c.Origin.MissRatePerClient; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return bad("origin.miss_rate_per_client", "must be 0 (off) or a positive number of misses per second")
	}
	if c.Store.Root == "" {
		return bad("store.root", "required")
	}
	if c.Store.GzipLevel < 1 || c.Store.GzipLevel > 9 {
		return bad("store.gzip_level", "must be 1..9")
	}
	if c.Store.BrotliLevel < 1 || c.Store.BrotliLevel > 11 {
		return bad("store.brotli_level", "must be 1..11")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return bad("log.level", "%v", err)
	}
	switch c.Origin.ForwardedProto {
	case "http", "https":
	default:
		return bad("origin.forwarded_proto", "must be http or https")
	}
	if err := c.Regen.validate(bad); err != nil {
		return err
	}
	if err := c.NATS.validate(bad); err != nil {
		return err
	}
	if err := c.Queue.validate(bad); err != nil {
		return err
	}
	if err := c.S3.validate(bad); err != nil {
		return err
	}
	return c.Sweep.validate(bad)
}

// lineOf finds the line of a dotted key in a YAML document, or 0.
func lineOf(root *yaml.Node, dotted string) int {
	if root == nil || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := 0
	for _, part := range strings.Split(dotted, ".") {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// ByteSize is a size in bytes written as a number or with a unit: 512,
// 64KiB, 8MiB, 1GiB (also KB/MB/GB as powers of 1000).
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses "8MiB", "1500", "2GB".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512, 64KiB, 8MiB)", s)
	}
	mult := map[string]float64{
		"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size unit %q in %q", unit, s)
	}
	return ByteSize(f * mult), nil
}
