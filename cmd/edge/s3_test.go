package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/s3store"
	"github.com/pregen/edge/internal/store"
)

// s3Env is the S3 server .ci/run starts (versitygw) or skips the test.
func s3Env(t *testing.T) S3Config {
	t.Helper()
	c := DefaultS3Config()
	c.Endpoint, c.Bucket = os.Getenv("S3_ENDPOINT"), os.Getenv("S3_BUCKET")
	c.AccessKeyID, c.SecretAccessKey = os.Getenv("S3_ACCESS_KEY"), os.Getenv("S3_SECRET_KEY")
	if c.Endpoint == "" || c.Bucket == "" || c.AccessKeyID == "" {
		t.Skip("S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY not set (.ci/run starts versitygw and sets them)")
	}
	c.PathStyle = true
	c.Prefix = "cmd-edge/" + t.Name() + "-" + time.Now().Format("150405.000000000")
	c.RetryBackoff, c.RetryBackoffMax = 50*time.Millisecond, 200*time.Millisecond
	return c
}

// versitygw is a versitygw process of the test's own (VERSITYGW), so the
// test can stop it and start it again on the same port and directory,
// which holds the bucket "pages".
type versitygw struct{ *serverProc }

func startVersitygw(t *testing.T) versitygw {
	return versitygw{startServerProc(t, "versitygw", "VERSITYGW",
		".ci/run installs it into .bin/ and sets it",
		func(addr, dir string) []string {
			if err := os.MkdirAll(filepath.Join(dir, "pages"), 0o755); err != nil {
				t.Fatal(err)
			}
			return []string{"--port", addr, "-a", "test-access", "-s", "test-secret", "--quiet", "posix", dir}
		})}
}

func (v versitygw) config(t *testing.T) S3Config {
	c := DefaultS3Config()
	c.Endpoint, c.Bucket, c.PathStyle = "http://"+v.addr, "pages", true
	c.AccessKeyID, c.SecretAccessKey = "test-access", "test-secret"
	c.RetryBackoff, c.RetryBackoffMax = 50*time.Millisecond, 200*time.Millisecond
	c.Timeout = 2 * time.Second
	return c
}

func s3StatusOf(t *testing.T, e *testEdge) S3Status {
	t.Helper()
	var st Status
	if err := json.Unmarshal([]byte(get(t, e.Admin+"/status").Body), &st); err != nil || st.S3 == nil {
		t.Fatalf("/status s3: %v", err)
	}
	return *st.S3
}

func bucketFor(t *testing.T, c S3Config) *s3store.Bucket {
	b, err := s3store.NewBucket(context.Background(), s3store.Config{
		Bucket: c.Bucket, Prefix: c.Prefix, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Edge B, with its own empty disk, serves a page edge A generated, from
// S3, without asking the origin, and keeps a local copy.
func TestS3TwoEdgesShareTheBucket(t *testing.T) {
	s3c := s3Env(t)
	o := startOrigin(t, page)
	withS3 := func(c *Config) { c.S3 = s3c }
	a := startEdge(t, o.URL, withS3)
	b := startEdge(t, o.URL, withS3)

	if r := get(t, a.URL+"/events/1"); r.Status != 200 || r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("edge A: %d %s", r.Status, r.Header.Get("X-Cache"))
	}
	got, err := bucketFor(t, s3c).Get(context.Background(), "/events/1")
	if err != nil || !strings.Contains(string(got.Body), "<h1>/events/1</h1>") || got.Gzip == nil || got.Brotli == nil {
		t.Fatalf("page in S3: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Root, "events/1/index.html")); !os.IsNotExist(err) {
		t.Fatalf("edge B has the page before serving it: %v", err)
	}
	r := get(t, b.URL+"/events/1", "Accept-Encoding", "br")
	if r.Status != 200 || r.Header.Get("X-Cache") != "HIT" || r.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("edge B: %d %s %q", r.Status, r.Header.Get("X-Cache"), r.Header.Get("Content-Encoding"))
	}
	if n := o.Hits("/events/1"); n != 1 {
		t.Fatalf("origin asked %d times for one page on two edges", n)
	}
	body, err := os.ReadFile(filepath.Join(b.Root, "events/1/index.html"))
	if err != nil || string(body) != string(got.Body) {
		t.Fatalf("edge B's local copy: %v", err)
	}
	if st := s3StatusOf(t, b); st.ReadThrough != 1 || !st.Up || st.PendingWrites != 0 {
		t.Fatalf("edge B s3 status %+v", st)
	}
	if st := s3StatusOf(t, a); st.Writes != 1 {
		t.Fatalf("edge A s3 status %+v", st)
	}
}

// S3 stopped: both edges keep serving what their disks hold, misses go to
// the origin, writes are queued and counted; when S3 is back they are
// delivered, and a third edge with an empty disk gets them from S3.
func TestS3OutageServesFromLocalDisk(t *testing.T) {
	v := startVersitygw(t)
	s3c := v.config(t)
	o := startOrigin(t, page)
	withS3 := func(c *Config) { c.S3 = s3c }
	a := startEdge(t, o.URL, withS3)
	b := startEdge(t, o.URL, withS3)
	get(t, a.URL+"/before")
	if r := get(t, b.URL+"/before"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("edge B did not read the page from S3: %s", r.Header.Get("X-Cache"))
	}

	v.stop()
	for _, e := range []*testEdge{a, b} {
		e.memory.Delete("/before") // make it a local-disk hit
		if r := get(t, e.URL+"/before"); r.Status != 200 || r.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("local-disk page during the outage: %d %s", r.Status, r.Header.Get("X-Cache"))
		}
	}
	for _, e := range []*testEdge{a, b} {
		if r := get(t, e.URL+"/during"); r.Status != 200 || r.Header.Get("X-Cache") != "MISS" {
			t.Fatalf("miss during the outage: %d %s", r.Status, r.Header.Get("X-Cache"))
		}
	}
	if n := o.Hits("/before"); n != 1 {
		t.Fatalf("origin asked for a page on local disk: %d", n)
	}
	for _, e := range []*testEdge{a, b} {
		st := s3StatusOf(t, e)
		if st.Up || st.PendingWrites != 1 || st.WriteErrors+st.WritesQueued != 1 || st.LastError == "" {
			t.Fatalf("s3 status during the outage: %+v", st)
		}
	}

	v.start(t)
	for _, e := range []*testEdge{a, b} {
		eventually(t, 10*time.Second, "queued writes delivered", func() bool { return s3StatusOf(t, e).PendingWrites == 0 })
		if st := s3StatusOf(t, e); !st.Up || st.Retried+st.Superseded != 1 {
			t.Fatalf("s3 status after the outage: %+v", st)
		}
	}
	got, err := bucketFor(t, s3c).Get(context.Background(), "/during")
	if err != nil || !strings.Contains(string(got.Body), "<h1>/during</h1>") {
		t.Fatalf("queued page not in S3: %v", err)
	}
	c := startEdge(t, o.URL, withS3)
	if r := get(t, c.URL+"/during"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("edge C: %s", r.Header.Get("X-Cache"))
	}
	if n := o.Hits("/during"); n != 2 { // once per edge during the outage
		t.Fatalf("origin hits for /during: %d", n)
	}
}

// A hard invalidation deletes the page from S3 too, so no edge reads it back.
func TestS3HardInvalidationDeletesFromBucket(t *testing.T) {
	s3c := s3Env(t)
	o := startOrigin(t, page)
	a := startEdge(t, o.URL, func(c *Config) { c.S3 = s3c; c.Admin.Token = "tok" })
	get(t, a.URL+"/gone")
	b := bucketFor(t, s3c)
	if _, err := b.Get(context.Background(), "/gone"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, a.Admin+"/invalidate", strings.NewReader(`{"urls":["/gone"],"hard":true}`))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("invalidate: %d", resp.StatusCode)
	}
	if _, err := b.Get(context.Background(), "/gone"); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("page still in S3: %v", err)
	}
}

func TestS3ConfigValidation(t *testing.T) {
	base := "origin:\n  url: http://127.0.0.1:9\n"
	cfg, err := ParseConfig("c.yaml", []byte(base))
	if err != nil || cfg.S3.Bucket != "" || cfg.S3.Timeout != 5*time.Second {
		t.Fatalf("default: no S3 tier: %+v %v", cfg.S3, err)
	}
	cfg, err = ParseConfig("c.yaml", []byte(base+"s3:\n  bucket: b\n  endpoint: http://127.0.0.1:7070\n  path_style: true\n  access_key_id: k\n  secret_access_key: s\n"))
	if err != nil || cfg.S3.Bucket != "b" || !cfg.S3.PathStyle || cfg.S3.RetryBackoffMax != 5*time.Minute {
		t.Fatalf("%+v %v", cfg.S3, err)
	}
	for _, c := range []struct{ yaml, key string }{
		{"s3:\n  bucket: b\n  endpoint: 127.0.0.1:7070\n", "s3.endpoint"},
		{"s3:\n  bucket: b\n  access_key_id: k\n", "s3.access_key_id"},
		{"s3:\n  bucket: b\n  timeout: 0s\n", "s3.timeout"},
		{"s3:\n  bucket: b\n  retry_backoff: 10s\n  retry_backoff_max: 1s\n", "s3.retry_backoff_max"},
	} {
		_, err := ParseConfig("c.yaml", []byte(base+c.yaml))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || ce.Line == 0 {
			t.Errorf("%q: got %v, want an error naming %s and its line", c.yaml, err, c.key)
		}
	}
}

// edge gen (standalone) writes through the S3 tier: every page is in the
// bucket when the run ends.
func TestS3GenStandaloneWritesBucket(t *testing.T) {
	s3c := s3Env(t)
	s := startGenSite(t, 20, nil)
	extra := fmt.Sprintf("s3:\n  bucket: %s\n  prefix: %s\n  endpoint: %s\n  path_style: true\n  access_key_id: %s\n  secret_access_key: %s\n",
		s3c.Bucket, s3c.Prefix, s3c.Endpoint, s3c.AccessKeyID, s3c.SecretAccessKey)
	root := t.TempDir()
	cfg := genConfig(t, s.URL, root, "www.site.test", extra)
	if out, err := genIn(t.Context(), t, "", "-config", cfg, "-sitemap", s.URL+"/sitemap.xml", "-progress", "log"); err != nil || !strings.Contains(out, "ok 20 ") {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	st, err := store.Open(root, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := bucketFor(t, s3c)
	n := 0
	err = st.KeysWithPrefix("/", func(key string) bool {
		n++
		if _, err := b.Get(context.Background(), key); err != nil {
			t.Errorf("page %s not in S3: %v", key, err)
		}
		return true
	})
	if err != nil || n != 20 {
		t.Fatalf("%d pages on disk: %v", n, err)
	}
}
