package s3store

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/store"
)

// fakeS3 is gofakes3 in process (fast unit tests only; integration tests
// use a real versitygw), behind a switch that makes it answer 503 and a
// request counter.
type fakeS3 struct {
	URL      string
	down     atomic.Bool
	requests atomic.Int64
}

func startFake(t testing.TB) *fakeS3 {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket("pages"); err != nil {
		t.Fatal(err)
	}
	f := &fakeS3{}
	h := gofakes3.New(be).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeS3) bucket(t testing.TB, prefix string) *Bucket {
	t.Helper()
	b, err := NewBucket(context.Background(), Config{
		Bucket: "pages", Prefix: prefix, Endpoint: f.URL, PathStyle: true,
		AccessKeyID: "test", SecretAccessKey: "test", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realS3 returns a bucket on the S3 server named by the environment
// (.ci/run starts versitygw and sets it), under a prefix of the test's
// own, or skips.
func realS3(t testing.TB) *Bucket {
	t.Helper()
	cfg, ok := envConfig()
	if !ok {
		t.Skip("S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY not set (.ci/run starts versitygw and sets them)")
	}
	cfg.Prefix = "test/" + strings.ReplaceAll(t.Name(), "/", "_") + "-" + time.Now().Format("150405.000000000")
	b, err := NewBucket(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func envConfig() (Config, bool) {
	c := Config{
		Endpoint: os.Getenv("S3_ENDPOINT"), Bucket: os.Getenv("S3_BUCKET"), PathStyle: true,
		AccessKeyID: os.Getenv("S3_ACCESS_KEY"), SecretAccessKey: os.Getenv("S3_SECRET_KEY"),
	}
	return c, c.Endpoint != "" && c.Bucket != "" && c.AccessKeyID != ""
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// testPage builds a finished page with both variants.
func testPage(key, body string, gen time.Time) *edge.Page {
	return (&edge.Page{
		Key: key, Status: 200, ContentType: "text/html; charset=utf-8",
		Header: []edge.Field{{Name: "Content-Language", Value: "fr"}, {Name: "Link", Value: `</a.css>; rel=preload, </b&c=d.js>`}},
		Body:   []byte(body), Gzip: []byte("gz:" + body), Brotli: []byte("br:" + body),
		ETag: `"` + strings.Repeat("ab", 8) + `-` + body[:min(4, len(body))] + `"`, GeneratedAt: gen,
		Tags: []string{"event:42", "a,b", "ünï cødé", "x&y=z"},
	}).Finish()
}

// samePage compares what a tier must keep of a page.
func samePage(t *testing.T, got, want *edge.Page) {
	t.Helper()
	if got.Key != want.Key || got.Status != want.Status || got.ContentType != want.ContentType ||
		got.ETag != want.ETag || !got.GeneratedAt.Equal(want.GeneratedAt) ||
		string(got.Body) != string(want.Body) || string(got.Gzip) != string(want.Gzip) ||
		string(got.Brotli) != string(want.Brotli) || got.LastModified != want.LastModified {
		t.Fatalf("page differs:\n got %+v\nwant %+v", got, want)
	}
	if strings.Join(got.Tags, "\x00") != strings.Join(want.Tags, "\x00") {
		t.Fatalf("tags: got %q want %q", got.Tags, want.Tags)
	}
	if len(got.Header) != len(want.Header) {
		t.Fatalf("header: got %q want %q", got.Header, want.Header)
	}
	for i := range got.Header {
		if got.Header[i] != want.Header[i] {
			t.Fatalf("header: got %q want %q", got.Header, want.Header)
		}
	}
}

// clock is a test clock: frozen but for a microsecond per reading (so
// times stay ordered), moved on by Advance. With it a back-off ends only
// when the test says so, however slow the machine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// waitFor polls cond (bounded) for effects of Run, which has no channel
// to wait on from outside.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not within 10s: %s", what)
}
