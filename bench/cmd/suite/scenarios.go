package main

import (
	"fmt"
	"strconv"
)

// Scenario names, in the order they run.
const (
	hot        = "hot"
	zipf       = "zipf"
	crawlWarm  = "crawl-warm"
	stampede   = "stampede"
	crawlCold  = "crawl-cold"
	bypass     = "bypass"
	invalidate = "invalidate"
)

var allScenarios = []string{hot, zipf, crawlWarm, stampede, crawlCold, bypass, invalidate}

// describe says what a scenario asks for, with the suite's settings.
func (s *suite) describe(scenario string) string {
	o := s.opt
	switch scenario {
	case hot:
		return "every request GET " + hotPath + ", a stored page (a memory hit in edge)"
	case zipf:
		return fmt.Sprintf("%.0f%% of requests to pages 1..%d of /events/ with Zipf popularity (s=1), the rest uniform over %d..%d: a hot set and a long tail", 100*o.hotShare, o.hot, o.hot+1, o.pages)
	case crawlWarm:
		return fmt.Sprintf("uniform over the %d stored pages /events/1..%d; edge's memory tier (%s) holds a small part of them, so most are read from disk", o.pages, o.pages, o.memory)
	case stampede:
		return fmt.Sprintf("%d connections on one page nobody has asked for yet (a new one each run): origin renders must be 1 per run", o.stampedeConns)
	case crawlCold:
		return fmt.Sprintf("every request a distinct new page (/events/%d and up): throughput from %d pages in a closed loop over %d connections, latency at %g/s; origin renders must equal the distinct pages", o.pages+1, o.crawlCount, o.conns, o.originRate)
	case bypass:
		return "GET " + hotPath + " with a logged-in session cookie: passed through to the origin, never stored; renders = requests"
	case invalidate:
		return fmt.Sprintf("hot traffic (the Zipf hot set, pages 1..%d) while %d stored pages (/events/1..%d) are invalidated through POST /invalidate and regenerated: renders must equal %d", o.hot, o.invalidateN, o.invalidateN, o.invalidateN)
	}
	return ""
}

// hotPath is the page of the hot and bypass scenarios.
const hotPath = "/events/42"

// originBound reports whether every request of scenario on server reaches
// the origin, whose 4 workers × 30 ms bound it to ~133 requests/s: those
// runs use the origin's constant rate, not the caches'.
func originBound(server, scenario string) bool {
	return server == originName || scenario == crawlCold || scenario == bypass
}

// load describes one measured run: the wrk or ratectl command line (without
// taskset) and its environment.
type load struct {
	tool string // "wrk" or "ratectl"
	argv []string
	env  []string
}

// throughput returns the throughput run of server in scenario: wrk, except
// crawl-cold, where ratectl sends exactly -count new pages so that the
// renders can be checked against them (wrk stops with requests in flight).
func (s *suite) throughput(srv *server, scenario string, fresh uint64) load {
	o := s.opt
	wrk := func(script, url string, conns int, env ...string) load {
		return load{tool: "wrk", env: env, argv: []string{"wrk", "-t1", "-c" + strconv.Itoa(conns), "-d" + o.duration.String(),
			"--timeout", o.wrkTimeout.String(), "--latency", "-s", script, url}}
	}
	switch scenario {
	case hot:
		return wrk(s.script("hot.lua"), srv.url()+hotPath, o.conns)
	case zipf, invalidate:
		share := o.hotShare
		if scenario == invalidate {
			share = 1
		}
		return wrk(s.script("zipf.lua"), srv.url()+"/", o.conns, "ZIPF_N="+strconv.Itoa(o.pages),
			"HOT="+strconv.Itoa(o.hot), "HOT_SHARE="+strconv.FormatFloat(share, 'g', -1, 64), "SEED=42")
	case crawlWarm:
		return wrk(s.script("uniform.lua"), srv.url()+"/", o.conns, "N="+strconv.Itoa(o.pages), "SEED=42")
	case stampede:
		return wrk(s.script("hot.lua"), srv.url()+stampedePath(fresh), o.stampedeConns)
	case bypass:
		l := wrk(s.script("hot.lua"), srv.url()+hotPath, o.conns)
		l.argv = append(l.argv[:len(l.argv)-1], "-H", "Cookie: sessionid="+s.session, l.argv[len(l.argv)-1])
		return l
	case crawlCold:
		return load{tool: "ratectl", argv: []string{s.bin("ratectl"), "-url", srv.url(), "-pattern", "seq", "-prefix", "/events/",
			"-start", strconv.FormatUint(fresh, 10), "-count", strconv.Itoa(o.crawlCount), "-c", strconv.Itoa(o.conns),
			"-timeout", "30s"}}
	}
	panic("no throughput run for " + scenario)
}

// latency returns the constant-rate run of server in scenario.
func (s *suite) latency(srv *server, scenario string, fresh uint64) load {
	o := s.opt
	rate := o.rate
	if originBound(srv.name, scenario) {
		rate = o.originRate
	}
	conns := o.conns
	if scenario == stampede {
		conns = o.stampedeConns
	}
	argv := []string{s.bin("ratectl"), "-url", srv.url(), "-rate", strconv.FormatFloat(rate, 'g', -1, 64),
		"-d", o.duration.String(), "-c", strconv.Itoa(conns), "-timeout", "30s", "-drain", "5s"}
	switch scenario {
	case hot:
		argv = append(argv, "-pattern", "fixed", "-path", hotPath)
	case zipf, invalidate:
		share := o.hotShare
		if scenario == invalidate {
			share = 1
		}
		argv = append(argv, "-pattern", "zipf", "-n", strconv.Itoa(o.pages), "-hot", strconv.Itoa(o.hot),
			"-share", strconv.FormatFloat(share, 'g', -1, 64))
	case crawlWarm:
		argv = append(argv, "-pattern", "uniform", "-n", strconv.Itoa(o.pages))
	case stampede:
		argv = append(argv, "-pattern", "fixed", "-path", stampedePath(fresh))
	case crawlCold:
		argv = append(argv, "-pattern", "seq", "-prefix", "/events/", "-start", strconv.FormatUint(fresh, 10))
	case bypass:
		argv = append(argv, "-pattern", "fixed", "-path", hotPath, "-H", "Cookie: sessionid="+s.session)
	default:
		panic("no latency run for " + scenario)
	}
	return load{tool: "ratectl", argv: argv}
}

// stampedePath is a people page: the crawl scenarios use events, so no
// person page is ever stored before its stampede.
func stampedePath(n uint64) string { return "/people/" + strconv.FormatUint(n, 10) }
