package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeEdge is edge's admin API as far as the demo sees it: it records
// every invalidation posted to it.
type fakeEdge struct {
	URL string

	mu    sync.Mutex // protects posts
	posts []edgePost
}

type edgePost struct {
	auth string
	body map[string][]string
}

func startFakeEdge(t *testing.T, status int) *fakeEdge {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &fakeEdge{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p edgePost
		p.auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/invalidate" || r.Method != http.MethodPost || json.Unmarshal(b, &p.body) != nil {
			http.Error(w, "bad request", 400)
			return
		}
		e.mu.Lock()
		e.posts = append(e.posts, p)
		e.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprintln(w, `{"marked":7,"unknown":0}`)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends at Close
	t.Cleanup(func() { srv.Close() })
	return e
}

func (e *fakeEdge) received() []edgePost {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.posts)
}

// pagesShowing returns the paths (among detail pages and the first list
// pages) whose body links to event id, checking on the way that each of
// them names event-id in its Surrogate-Key, and that no other page does.
func pagesShowing(t *testing.T, ts *testServer, id int) map[string]string {
	t.Helper()
	link := fmt.Sprintf(`href="/events/%d"`, id)
	tag := fmt.Sprintf("event-%d", id)
	paths := []string{"/", "/events/", "/people/", "/topics/"}
	for p := range ts.site.URLs {
		paths = append(paths, p)
	}
	out := map[string]string{}
	for _, p := range paths {
		r := ts.get(t, p)
		shows := strings.Contains(r.body, link)
		tagged := slices.Contains(strings.Fields(r.header["Surrogate-Key"]), tag)
		if shows != tagged {
			t.Errorf("%s: links event %d: %v, Surrogate-Key names it: %v", p, id, shows, tagged)
		}
		if shows {
			out[p] = r.body
		}
	}
	return out
}

func TestChangeEvent(t *testing.T) {
	edge := startFakeEdge(t, http.StatusAccepted)
	site := newTestSite(Config{Pages: 300, EdgeAdminURL: edge.URL + "/", EdgeToken: "demo-token"})
	ts := serve(t, site)
	const id = 7
	e := site.model.event(id)
	title := string(e.appendTitle(nil))

	before := pagesShowing(t, ts, id)
	if len(before) < 3 {
		t.Fatalf("event %d is shown on %d pages; the test wants a few", id, len(before))
	}
	renders := site.TotalRenders()

	r := ts.do(t, "POST", fmt.Sprintf("/_origin/change?event=%d", id), "")
	var res changeResult
	if r.status != 200 || json.Unmarshal([]byte(r.body), &res) != nil {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	want := changeResult{Event: id, Revision: 1, Title: title + " (revision 1)", Tags: []string{"event-7"}}
	if res.Event != want.Event || res.Revision != 1 || res.Title != want.Title || !slices.Equal(res.Tags, want.Tags) ||
		!strings.HasPrefix(res.Edge, "202") {
		t.Fatalf("change = %+v, want %+v with edge's 202", res, want)
	}
	if got := site.TotalRenders(); got != renders {
		t.Errorf("the change counted %d renders", got-renders)
	}
	if posts := edge.received(); len(posts) != 1 || posts[0].auth != "Bearer demo-token" ||
		!slices.Equal(posts[0].body["tags"], []string{"event-7"}) || len(posts[0].body) != 1 {
		t.Fatalf("edge was told %+v", posts)
	}

	// Every page that shows the event shows the new title, and only those
	// pages changed.
	after := pagesShowing(t, ts, id)
	if len(after) != len(before) {
		t.Fatalf("pages showing event %d: %d before, %d after", id, len(before), len(after))
	}
	for p, body := range after {
		if !strings.Contains(body, want.Title) {
			t.Errorf("%s does not show the new title", p)
		}
		if body == before[p] {
			t.Errorf("%s did not change", p)
		}
	}
	ev := ts.get(t, "/events/7").body
	for _, s := range []string{"<title>" + want.Title, "<h1>" + want.Title} {
		if !strings.Contains(ev, s) {
			t.Errorf("/events/7 lacks %q", s)
		}
	}
	if other := ts.get(t, "/events/8").body; strings.Contains(other, "(revision") {
		t.Error("another event changed")
	}

	// Deterministic: the same changes give the same bytes.
	site2 := newTestSite(Config{Pages: 300})
	ts2 := serve(t, site2)
	ts2.do(t, "POST", "/_origin/change?event=7", "")
	if ts2.get(t, "/events/7").body != ev {
		t.Error("the same change rendered differently in another site")
	}
	r = ts.do(t, "POST", "/_origin/change?event=7", "")
	if !strings.Contains(r.body, `"revision":2`) || !strings.Contains(ts.get(t, "/events/7").body, "<h1>"+title+" (revision 2)") {
		t.Errorf("second change: %s", r.body)
	}
	if site.Revision(7) != 2 || site.Revision(8) != 0 {
		t.Errorf("revisions: %d %d", site.Revision(7), site.Revision(8))
	}
}

// With edge down (or refusing), the change still happens and says so.
func TestChangeWithEdgeDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	refusing := startFakeEdge(t, http.StatusUnauthorized)
	for _, url := range []string{down, refusing.URL, ""} {
		site := newTestSite(Config{Pages: 30, EdgeAdminURL: url})
		ts := serve(t, site)
		r := ts.do(t, "POST", "/_origin/change?event=1", "")
		var res changeResult
		if r.status != 200 || json.Unmarshal([]byte(r.body), &res) != nil || res.Revision != 1 || strings.HasPrefix(res.Edge, "202") {
			t.Errorf("edge %q: %d %s", url, r.status, r.body)
		}
		if !strings.Contains(ts.get(t, "/events/1").body, "(revision 1)") {
			t.Errorf("edge %q: change not applied", url)
		}
	}
}

func TestChangeBadRequests(t *testing.T) {
	ts := serve(t, newTestSite(Config{Pages: 30}))
	n := ts.site.model.n[kindEvent]
	for _, q := range []string{"", "event=0", "event=-1", "event=x", fmt.Sprintf("event=%d", n+1), "event=01"} {
		if r := ts.do(t, "POST", "/_origin/change?"+q, ""); r.status != 400 {
			t.Errorf("POST ?%s: %d, want 400", q, r.status)
		}
	}
	if r := ts.get(t, "/_origin/change?event=1"); r.status != 405 {
		t.Errorf("GET: %d, want 405", r.status)
	}
	if ts.site.Revision(1) != 0 {
		t.Error("a refused change applied")
	}
}
