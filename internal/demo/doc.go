// Package demo is the slow dynamic site that edge is shown and tested
// against: an academic events tracker in the spirit of the 2008 article, with
// 600,000 detail pages behind a small pool of slow workers.
//
// It owns the whole origin side of the demo: the generated data (events,
// the people who speak at them, the topics they cover), the HTML pages and
// their Surrogate-Key headers, sitemaps, a cookie login, render counters for
// tests and benchmarks, and Main, which cmd/demo-origin runs.
//
// # Content
//
// Every page is a pure function of Config.Seed, Config.Pages, the path,
// the logged-in user and the revisions made through POST
// /_origin/change?event=N (change.go: each change bumps the event's
// revision, shown in its title on every page that shows it, and posts
// {"tags":["event-N"]} to Config.EdgeAdminURL): two processes with the
// same flags and the same changes serve identical bytes, and nothing
// depends on the clock. Detail pages are
// /events/{id}, /people/{id} and /topics/{id}, padded to about 16 KB. List
// pages are /, /events/, /people/ and /topics/ (?page=N, 100 rows a page).
// /sitemap.xml indexes /sitemaps/{n}.xml, MaxSitemapURLs URLs each.
//
// Surrogate-Key names exactly the rows a page shows (event-42 person-7
// topic-3), plus list-events, list-people, list-topics or list-home on list
// pages. A 404 for an id beyond the table names the row it would show.
//
// # Cost
//
// A render waits for one of Config.Workers slots and holds it for
// Config.Latency: the latency, not Go, is the cost. Sitemaps are not
// delayed; /_origin/ (stats and reset) is neither delayed nor counted.
// GET /_origin/stats answers the total and every path's count,
// ?path=P one path's, ?recent=1 the total and the last 16 renders (when,
// which path, the asker's User-Agent and Via), which is how the benchmark
// suite explains a render it did not expect.
//
// # Sessions
//
// GET or POST /accounts/login with user=NAME sets the sessionid cookie;
// pages for a session carry a "Logged in as NAME" banner and are sent with
// Cache-Control: private, no-store and Vary: Cookie. Anonymous pages are
// public, max-age=60.
package demo
