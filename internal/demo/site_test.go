package demo

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestDetailPages(t *testing.T) {
	site := newTestSite(Config{Pages: 20000})
	ts := serve(t, site)
	m := site.model
	paths := []string{"/events/1", "/events/42", fmt.Sprintf("/events/%d", m.n[kindEvent]),
		"/people/1", "/people/7", fmt.Sprintf("/people/%d", m.n[kindPerson]),
		"/topics/1", "/topics/3", fmt.Sprintf("/topics/%d", m.n[kindTopic])}
	for _, path := range paths {
		r := ts.get(t, path)
		if r.status != 200 {
			t.Errorf("GET %s: status %d", path, r.status)
			continue
		}
		for k, want := range map[string]string{
			"Content-Type":  "text/html; charset=utf-8",
			"Cache-Control": "public, max-age=60",
		} {
			if got := r.header[k]; got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
		if v, ok := r.header["Vary"]; ok {
			t.Errorf("GET %s: anonymous page has Vary: %s", path, v)
		}
		key := r.header["Surrogate-Key"]
		rows, other := splitKeys(t, key)
		self := strings.NewReplacer("/events/", "event-", "/people/", "person-", "/topics/", "topic-").Replace(path)
		if first, _, _ := strings.Cut(key, " "); first != self {
			t.Errorf("GET %s: Surrogate-Key %q does not start with %s", path, key, self)
		}
		if len(other) > 0 {
			t.Errorf("GET %s: detail page has non-row tags %q", path, other)
		}
		if links := rowTags(r.body); !slices.Equal(rows, links) {
			t.Errorf("GET %s: Surrogate-Key rows %q, but the body links rows %q", path, rows, links)
		}
		if n := len(r.body); n < pageTarget*3/4 || n > pageTarget*5/4 {
			t.Errorf("GET %s: %d bytes, want %d ± 25%%", path, n, pageTarget)
		}
		if !strings.HasPrefix(r.body, "<!DOCTYPE html>") || !strings.HasSuffix(r.body, "</html>\n") {
			t.Errorf("GET %s: not a whole HTML document", path)
		}
	}

	// An event links its speakers and topics; they link back to it.
	r := ts.get(t, "/events/42")
	rows, _ := splitKeys(t, r.header["Surrogate-Key"])
	var speakers, topics int
	for _, tag := range rows {
		kind, id, _ := strings.Cut(tag, "-")
		var path string
		switch kind {
		case "person":
			speakers++
			path = "/people/" + id
		case "topic":
			topics++
			path = "/topics/" + id
		default:
			continue
		}
		if back := ts.get(t, path); !strings.Contains(back.body, `href="/events/42"`) ||
			!strings.Contains(back.header["Surrogate-Key"], "event-42") {
			t.Errorf("%s does not list /events/42 (Surrogate-Key %q)", path, back.header["Surrogate-Key"])
		}
	}
	if speakers < 2 || speakers > maxSpeakers || topics < 1 || topics > maxTopics {
		t.Errorf("/events/42 has %d speakers and %d topics", speakers, topics)
	}
}

// TestRelations checks the inverse relations against brute force: a person
// lists exactly the events that list them, a topic the newest relatedLimit.
func TestRelations(t *testing.T) {
	for _, m := range []*model{
		newModel(3, 1),
		newModel(40, 7),
		newModel(5000, 1),
		newModelSized([kindCount]int{900, 7, 2}, 3), // more than relatedLimit per row
	} {
		people := make(map[int][]int)
		topics := make(map[int][]int)
		for e := m.n[kindEvent]; e >= 1; e-- { // newest first
			for _, p := range m.eventSpeakers(nil, e) {
				people[p] = append(people[p], e)
			}
			for _, x := range m.eventTopics(nil, e) {
				topics[x] = append(topics[x], e)
			}
		}
		check := func(name string, n int, want map[int][]int, got func([]int, int) []int) {
			for id := 1; id <= n; id++ {
				w := want[id][:min(len(want[id]), relatedLimit)]
				if g := got(nil, id); !slices.Equal(g, w) {
					t.Errorf("sizes %v: %s %d lists %v, want %v", m.n, name, id, g, w)
				}
			}
		}
		check("person", m.n[kindPerson], people, m.personEvents)
		check("topic", m.n[kindTopic], topics, m.topicEvents)
		if got := len(topics[1]); m.n[kindEvent] == 900 && got <= relatedLimit {
			t.Errorf("sizes %v: topic 1 has %d events; the test wants more than %d", m.n, got, relatedLimit)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a := serve(t, newTestSite(Config{Pages: 5000, Seed: 9}))
	b := serve(t, newTestSite(Config{Pages: 5000, Seed: 9}))
	other := serve(t, newTestSite(Config{Pages: 5000, Seed: 10}))
	for _, path := range []string{"/", "/events/17", "/people/17", "/topics/17", "/events/?page=2", "/nope"} {
		ra, rb := a.get(t, path), b.get(t, path)
		if ra.body != rb.body || ra.header["Surrogate-Key"] != rb.header["Surrogate-Key"] {
			t.Errorf("GET %s differs between two sites with the same Config", path)
		}
		if path != "/nope" && other.get(t, path).body == ra.body {
			t.Errorf("GET %s is the same under another seed", path)
		}
	}
}

func TestNotFound(t *testing.T) {
	site := newTestSite(Config{Pages: 1000})
	ts := serve(t, site)
	for path, key := range map[string]string{
		"/events/0":           "not-found",
		"/events/042":         "not-found",
		"/events/abc":         "not-found",
		"/events/42/":         "not-found",
		"/events/601":         "event-601", // 600 events
		"/people/351":         "person-351",
		"/topics/51":          "topic-51",
		"/topics/99999999999": "not-found",
		"/events/?page=7":     "list-events",
		"/people/?page=0":     "list-people",
		"/topics/?page=x":     "list-topics",
		"/nope":               "not-found",
		"/sitemaps/2.xml":     "not-found",
	} {
		r := ts.get(t, path)
		if r.status != 404 || !strings.Contains(r.body, "<h1>Page not found</h1>") {
			t.Errorf("GET %s: status %d, want a 404 page", path, r.status)
		}
		if got := r.header["Surrogate-Key"]; got != key {
			t.Errorf("GET %s: Surrogate-Key %q, want %q", path, got, key)
		}
		if got := r.header["Content-Type"]; got != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, got)
		}
		if site.Renders(path[:strings.IndexByte(path+"?", '?')]) == 0 {
			t.Errorf("GET %s: a 404 is not counted as a render", path)
		}
	}
}

func TestLists(t *testing.T) {
	site := newTestSite(Config{Pages: 1000}) // 600 events, 350 people, 50 topics
	ts := serve(t, site)
	for _, c := range []struct {
		path, list string
		rows       int
	}{
		{"/", "list-home list-events", homeEvents},
		{"/events/", "list-events", 100},
		{"/events/?page=2", "list-events", 100},
		{"/events/?page=6", "list-events", 100},
		{"/people/?page=4", "list-people", 50},
		{"/topics/", "list-topics", 50},
	} {
		r := ts.get(t, c.path)
		if r.status != 200 {
			t.Errorf("GET %s: status %d", c.path, r.status)
			continue
		}
		rows, other := splitKeys(t, r.header["Surrogate-Key"])
		if got := strings.Join(other, " "); got != c.list {
			t.Errorf("GET %s: list tags %q, want %q", c.path, got, c.list)
		}
		if len(rows) != c.rows {
			t.Errorf("GET %s: %d rows, want %d", c.path, len(rows), c.rows)
		}
		if links := rowTags(r.body); !slices.Equal(rows, links) {
			t.Errorf("GET %s: Surrogate-Key rows %q, but the body links rows %q", c.path, rows, links)
		}
	}
	if r := ts.get(t, "/events/?page=2"); !strings.Contains(r.body, `href="/events/101"`) ||
		!strings.Contains(r.body, `href="/events/?page=3"`) || !strings.Contains(r.body, `href="/events/"`) {
		t.Errorf("/events/?page=2 lacks event 101 or its pager")
	}
	r := ts.get(t, "/people")
	if r.status != 301 || r.header["Location"] != "/people/" {
		t.Errorf("GET /people: %d Location %q, want 301 /people/", r.status, r.header["Location"])
	}
	if r := ts.do(t, "POST", "/events/1", "x=1"); r.status != 405 || r.header["Allow"] != "GET, HEAD" {
		t.Errorf("POST /events/1: %d Allow %q", r.status, r.header["Allow"])
	}
	if r := ts.do(t, "HEAD", "/events/1", ""); r.status != 200 || r.body != "" {
		t.Errorf("HEAD /events/1: %d with %d body bytes", r.status, len(r.body))
	}
}

func TestURLs(t *testing.T) {
	site := newTestSite(Config{Pages: 1000})
	var got []string
	for p := range site.URLs {
		got = append(got, p)
	}
	if len(got) != 1000 || got[0] != "/events/1" || got[599] != "/events/600" ||
		got[600] != "/people/1" || got[950] != "/topics/1" || got[999] != "/topics/50" {
		t.Fatalf("URLs: %d paths, %q … %q", len(got), got[0], got[len(got)-1])
	}
	n := 0
	for range site.URLs {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("URLs did not stop when asked")
	}
}

func TestRenderCounters(t *testing.T) {
	site := newTestSite(Config{Pages: 1000})
	ts := serve(t, site)
	ts.get(t, "/events/1")
	ts.get(t, "/events/1?utm_source=x")
	ts.get(t, "/people/2")
	ts.get(t, "/_origin/stats")
	if got := site.Renders("/events/1"); got != 2 {
		t.Errorf("Renders(/events/1) = %d, want 2", got)
	}
	if got := site.TotalRenders(); got != 3 {
		t.Errorf("TotalRenders() = %d, want 3", got)
	}

	var all struct {
		Total int64            `json:"total"`
		Paths map[string]int64 `json:"paths"`
	}
	r := ts.get(t, "/_origin/stats")
	if err := json.Unmarshal([]byte(r.body), &all); err != nil {
		t.Fatalf("stats: %v in %q", err, r.body)
	}
	if all.Total != 3 || len(all.Paths) != 2 || all.Paths["/events/1"] != 2 || all.Paths["/people/2"] != 1 {
		t.Errorf("stats = %+v", all)
	}
	var one struct {
		Path    string `json:"path"`
		Renders int64  `json:"renders"`
	}
	r = ts.get(t, "/_origin/stats?path=/events/1")
	if err := json.Unmarshal([]byte(r.body), &one); err != nil || one.Path != "/events/1" || one.Renders != 2 {
		t.Errorf("stats?path: %+v, %v", one, err)
	}

	var recent struct {
		Total  int64    `json:"total"`
		Paths  any      `json:"paths"`
		Recent []render `json:"recent"`
	}
	r = ts.get(t, "/_origin/stats?recent=1")
	if err := json.Unmarshal([]byte(r.body), &recent); err != nil || recent.Total != 3 || recent.Paths != nil ||
		len(recent.Recent) != 3 || recent.Recent[0].Path != "/events/1" || recent.Recent[2].Path != "/people/2" ||
		recent.Recent[2].At.IsZero() {
		t.Errorf("stats?recent: %+v, %v", recent, err)
	}
	for range 20 { // the ring keeps the last 16, oldest first
		ts.get(t, "/topics/3")
	}
	r = ts.get(t, "/_origin/stats?recent=1")
	if err := json.Unmarshal([]byte(r.body), &recent); err != nil || len(recent.Recent) != 16 || recent.Recent[15].Path != "/topics/3" {
		t.Errorf("stats?recent after 23 renders: %d entries, %v", len(recent.Recent), err)
	}

	if r := ts.get(t, "/_origin/reset"); r.status != 405 {
		t.Errorf("GET /_origin/reset: status %d, want 405", r.status)
	}
	if r := ts.do(t, "POST", "/_origin/reset", ""); r.status != 204 {
		t.Errorf("POST /_origin/reset: status %d", r.status)
	}
	if site.TotalRenders() != 0 || site.Renders("/events/1") != 0 {
		t.Errorf("after reset: total %d, /events/1 %d", site.TotalRenders(), site.Renders("/events/1"))
	}
	ts.get(t, "/events/1")
	if got := site.Renders("/events/1"); got != 1 {
		t.Errorf("after reset and one render: %d", got)
	}
}
