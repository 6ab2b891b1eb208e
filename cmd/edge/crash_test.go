//go:build unix

package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/pregen/edge/internal/fault"
	"github.com/pregen/edge/internal/testenv"
)

// versionedOrigin serves self-checking pages: the body of uri at version v
// is versionBody(uri, v), so any prefix, mix or corruption is detectable.
// Version bumps with every invalidation the test sends; gone makes every
// page a 404.
type versionedOrigin struct {
	*testenv.Origin
	version atomic.Int64
	gone    atomic.Bool
}

func versionBody(uri string, v int64) string {
	head := fmt.Sprintf("<html><!-- page %s version %d -->\n", uri, v)
	return head + strings.Repeat(fmt.Sprintf("<p>%s is at version %d</p>\n", uri, v), 200) + "</html>\n"
}

var versionRE = regexp.MustCompile(`^<html><!-- page (\S+) version (\d+) -->`)

func startVersioned(t *testing.T) *versionedOrigin {
	o := &versionedOrigin{}
	o.version.Store(1)
	o.Origin = testenv.StartOrigin(t, func(c *testenv.Conn, r *testenv.Request) bool {
		if o.gone.Load() {
			return c.Write(testenv.Reply(404, "gone", "Content-Type: text/html"))
		}
		return c.Write(testenv.Reply(200, versionBody(r.URI, o.version.Load()), "Content-Type: text/html; charset=utf-8"))
	})
	return o
}

// edgeProc is edge run as a child process (the test binary acting as edge,
// see TestMain) on a config file, so it can be killed and started again on
// the same store.
type edgeProc struct {
	*testenv.Proc
	pub, admin string // host:port
}

const crashToken = "crash-token"

func crashConfig(t *testing.T, originURL string) (cfgPath, root string) {
	dir := t.TempDir()
	root = filepath.Join(dir, "pages")
	cfgPath = filepath.Join(dir, "edge.yaml")
	yaml := fmt.Sprintf(`origin: {url: %s}
store: {root: %s}
listen: 127.0.0.1:0
hosts: [edge.test]
admin: {listen: 127.0.0.1:0, token: %s}
regen: {concurrency: 2, rate: 1000, backoff: 50ms}
log: {level: info}
`, originURL, root, crashToken)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, root
}

var servingRE = regexp.MustCompile(`edge serving" listen=(\S+) admin=(\S+)`)

func startEdgeProc(t *testing.T, cfgPath, faultSpec string) *edgeProc {
	t.Helper()
	var env []string
	if faultSpec != "" {
		env = append(env, fault.EnvVar+"="+faultSpec)
	}
	p := testenv.Start(t, edgeCommand(t, env, "serve", "-config", cfgPath))
	m := p.WaitLine(servingRE)
	return &edgeProc{Proc: p, pub: m[1], admin: m[2]}
}

func (e *edgeProc) invalidate(urls ...string) (int, error) {
	body := `{"urls":["` + strings.Join(urls, `","`) + `"]}`
	r, err := postBody("http://"+e.admin+"/invalidate", body, "Authorization", "Bearer "+crashToken)
	return r.Status, err
}

func postBody(url, body string, hdr ...string) (response, error) {
	return doBody(http.MethodPost, url, strings.NewReader(body), hdr...)
}

// checkPage fetches uri in every encoding and checks each body is one
// complete version of the page; it returns the highest version seen (0 if
// every answer was a 404).
func checkPage(t *testing.T, pub, uri string) int64 {
	t.Helper()
	var version int64 = -1
	for _, enc := range []string{"identity", "gzip", "br"} {
		r := get(t, "http://"+pub+uri, "Accept-Encoding", enc, "Host", "edge.test")
		if r.Status == 404 { // a regeneration may remove the page between requests
			version = max(version, 0)
			continue
		}
		if r.Status != 200 {
			t.Fatalf("%s (%s): status %d %q", uri, enc, r.Status, r.Body)
		}
		body := []byte(r.Body)
		var err error
		switch r.Header.Get("Content-Encoding") {
		case "gzip":
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
				body, err = io.ReadAll(zr)
			}
		case "br":
			body, err = io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
		}
		if err != nil {
			t.Fatalf("%s (%s): corrupt encoding: %v", uri, enc, err)
		}
		m := versionRE.FindSubmatch(body)
		if m == nil || string(m[1]) != uri {
			t.Fatalf("%s (%s): not a page of this uri: %.80q", uri, enc, body)
		}
		v, _ := strconv.ParseInt(string(m[2]), 10, 64)
		if string(body) != versionBody(uri, v) {
			t.Fatalf("%s (%s): version %d is partial or mixed (%d bytes)", uri, enc, v, len(body))
		}
		version = max(version, v)
	}
	return version
}

// tempFiles counts the files left in the store's temp directory.
func tempFiles(t *testing.T, root string) int {
	ents, err := os.ReadDir(filepath.Join(root, "@edge", "tmp"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

// kill -9 at each step of a page write (and of a mark and a delete), then
// a restart on the same store: no partial or mixed page is ever served, no
// temp file is left, and the invalidation that was accepted is carried out
// (checklist 54, 60).
func TestKill9AtEachWriteStep(t *testing.T) {
	for _, point := range []string{
		"store.temp.after-write", "store.temp.after-fsync", "store.put.after-temps",
		"store.put.after-body-rename", "store.put.after-rename", "store.put.before-index",
		"store.put.after-index", "store.mark.after-commit", "store.delete.after-sidecar-remove",
	} {
		t.Run(point, func(t *testing.T) {
			o := startVersioned(t)
			cfg, root := crashConfig(t, o.URL)
			e := startEdgeProc(t, cfg, "")
			if v := checkPage(t, e.pub, "/p"); v != 1 {
				t.Fatalf("first fill: version %d", v)
			}
			e.Kill()

			e = startEdgeProc(t, cfg, point+":kill")
			o.version.Store(2)
			deleting := strings.HasPrefix(point, "store.delete.")
			o.gone.Store(deleting)
			// Every kill point lies at or after the commit of the mark, so
			// the invalidation is durable even when the process dies before
			// its 202 reaches us (the regeneration can outrun the answer):
			// a lost connection is acceptable, any other answer is not.
			status, err := e.invalidate("/p")
			if err == nil && status != 202 {
				t.Fatalf("invalidate: status %d", status)
			}
			if err != nil {
				t.Logf("invalidate: no answer (the kill outran it): %v", err)
			}
			select {
			case <-e.Exited():
			case <-time.After(20 * time.Second):
				t.Fatalf("edge never reached %s", point)
			}
			if !e.Killed() {
				t.Fatalf("edge ended without SIGKILL at %s", point)
			}

			e = startEdgeProc(t, cfg, "")
			if n := tempFiles(t, root); n != 0 {
				t.Fatalf("%d temp files left after the restart", n)
			}
			v := checkPage(t, e.pub, "/p") // v1 (stale), v2, or 404 when deleting
			if v < 0 || v > 2 || deleting && v == 2 {
				t.Fatalf("after restart: version %d", v)
			}
			want := int64(2)
			if deleting {
				want = 0
			}
			eventually(t, 15*time.Second, "the invalidation carried out after the restart", func() bool {
				return checkPage(t, e.pub, "/p") == want
			})
		})
	}
}

// kill -9 at random moments while clients read pages and invalidations
// are accepted; after each restart every page is complete in every
// encoding and every accepted invalidation is carried out (checklist 55,
// 60). Bounded: a few iterations of well under a second of load each.
func TestKill9UnderLoad(t *testing.T) {
	const keys, iterations = 12, 4
	o := startVersioned(t)
	cfg, root := crashConfig(t, o.URL)
	rnd := rand.New(rand.NewPCG(7, 7))
	need := map[string]int64{} // uri → version its accepted invalidation requires
	uri := func(i int) string { return "/load/" + strconv.Itoa(i) }
	for it := 0; ; it++ {
		e := startEdgeProc(t, cfg, "")
		if n := tempFiles(t, root); n != 0 {
			t.Fatalf("iteration %d: %d temp files left after the restart", it, n)
		}
		for i := range keys {
			v := checkPage(t, e.pub, uri(i))
			if v < 1 {
				t.Fatalf("iteration %d: %s version %d", it, uri(i), v)
			}
		}
		for u, v := range need {
			eventually(t, 15*time.Second, fmt.Sprintf("%s at version %d after restart %d", u, v, it), func() bool {
				return checkPage(t, e.pub, u) >= v
			})
		}
		if it == iterations {
			break
		}

		// Load: readers on every key, one writer of invalidations.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 3 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = do("GET", "http://"+e.pub+uri(i%keys), "Accept-Encoding", "br", "Host", "edge.test")
				}
			})
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := uri(i * 5 % keys)
				v := o.version.Add(1)
				if st, err := e.invalidate(u); err == nil && st == 202 {
					mu.Lock()
					need[u] = max(need[u], v)
					mu.Unlock()
				}
			}
		})
		timer := time.NewTimer(time.Duration(100+rnd.IntN(400)) * time.Millisecond)
		<-timer.C // the load runs for a random while: this is the random kill time
		e.Kill()
		close(stop)
		wg.Wait()
	}
	if len(need) == 0 {
		t.Fatal("no invalidation was accepted: the test proved nothing")
	}
}
