package gen

import (
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/demo"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
	"github.com/valyala/fasthttp"
)

// siteHost is the one public host of the rig's site.
const siteHost = "site.test"

// rig is the real chain a bulk run drives, as edge wires it: the demo
// origin on a 127.0.0.1 listener, origin.Client under a Budget, a
// Generator and a store.Store in a temp dir (NoSync), and the key rules
// with one allowed host.
type rig struct {
	site      *demo.Site
	originURL string
	oc        *origin.Client
	store     *store.Store
	gen       *Generator
	keys      *cachekey.Normalizer
	root      string
}

// newRig starts the demo site with pages pages and no render latency
// unless latency says otherwise, behind a budget of slots.
func newRig(t testing.TB, pages int, latency time.Duration, slots int) *rig {
	t.Helper()
	if latency == 0 {
		latency = -1
	}
	site := demo.New(demo.Config{Pages: pages, Latency: latency, Workers: slots})
	url := serveHandler(t, site.Handler)
	return newRigFor(t, url, site, slots)
}

// newRigFor builds the rig around an origin already listening at url.
func newRigFor(t testing.TB, url string, site *demo.Site, slots int) *rig {
	t.Helper()
	oc, err := origin.New(origin.Config{URL: url, Budget: origin.NewBudget(slots, 0), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oc.Close)
	root := t.TempDir()
	st, err := store.Open(root, store.Options{NoSync: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{siteHost}})
	if err != nil {
		t.Fatal(err)
	}
	g := &Generator{Origin: oc, Store: st}
	if raceEnabled {
		// Instrumented compression dominates a page's cost; the fastest
		// levels keep the large runs short and change nothing they check.
		g.GzipLevel, g.BrotliLevel = 1, 1
	}
	return &rig{site: site, originURL: url, oc: oc, store: st, keys: keys, root: root, gen: g}
}

// serveHandler serves h on 127.0.0.1 until the test ends.
func serveHandler(t testing.TB, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, CloseOnShutdown: true}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return "http://" + ln.Addr().String()
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// generated is the Bulk.Generated adapter cmd/edge wires: the index's
// generation time, zero for a stale page.
func (r *rig) generated(key string) (time.Time, error) {
	m, err := r.store.Meta(key)
	if err != nil || m.Stale {
		return time.Time{}, err
	}
	return m.GeneratedAt, nil
}

// bulk returns a Bulk over src wired like edge gen.
func (r *rig) bulk(src Source) *Bulk {
	return &Bulk{
		Maker: r.gen, Keys: r.keys, Source: src, Generated: r.generated,
		Priority: edge.PriorityBulk, Concurrency: 4, Logger: quietLog(),
	}
}

// paths is a Source of the demo site's detail pages, as paths.
func (r *rig) paths() Source {
	return func(yield func(Entry, error) bool) {
		i := 0
		for p := range r.site.URLs {
			i++
			if !yield(Entry{URL: p, From: "site", Line: i}, nil) {
				return
			}
		}
	}
}

// pageRenders returns the origin's render count of detail pages (sitemaps
// excluded) and checks that no page was rendered more than max times.
func (r *rig) pageRenders(t testing.TB, max int64) int64 {
	t.Helper()
	var total int64
	for p := range r.site.URLs {
		n := r.site.Renders(p)
		if n > max {
			t.Errorf("%s rendered %d times, want at most %d", p, n, max)
		}
		total += n
	}
	return total
}

// fileStamp identifies one stored file version.
type fileStamp struct {
	size  int64
	mtime time.Time
}

// stamps returns the identity of every page body file (not the sidecars)
// under the store root.
func stamps(t testing.TB, root string) map[string]fileStamp {
	t.Helper()
	out := map[string]fileStamp{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "@edge" {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(p, ".meta") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fileStamp{fi.Size(), fi.ModTime()}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}
