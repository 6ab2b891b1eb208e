package demo

import (
	"regexp"
	"strings"
	"testing"
)

var sessionSetCookie = regexp.MustCompile(`^sessionid=([A-Za-z0-9]+); Path=/; HttpOnly$`)

func TestLogin(t *testing.T) {
	site := newTestSite(Config{Pages: 1000})
	ts := serve(t, site)

	form := ts.get(t, "/accounts/login")
	if form.status != 200 || !strings.Contains(form.body, `<input name="user"`) ||
		form.header["Cache-Control"] != "no-store" {
		t.Fatalf("GET /accounts/login: %d, Cache-Control %q", form.status, form.header["Cache-Control"])
	}

	login := func(r response) string {
		t.Helper()
		if r.status != 302 || r.header["Location"] != "/" || r.header["Cache-Control"] != "no-store" {
			t.Fatalf("login: %d Location %q Cache-Control %q", r.status, r.header["Location"], r.header["Cache-Control"])
		}
		m := sessionSetCookie.FindStringSubmatch(r.header["Set-Cookie"])
		if m == nil {
			t.Fatalf("login: Set-Cookie %q", r.header["Set-Cookie"])
		}
		return "Cookie: sessionid=" + m[1]
	}
	ada := login(ts.get(t, "/accounts/login?user=Ada"))
	bob := login(ts.do(t, "POST", "/accounts/login", "user=%3Cb%3EBob"))
	if ada == bob {
		t.Fatalf("two logins share session cookie %q", ada)
	}

	anon := ts.get(t, "/events/1")
	for who, cookie := range map[string]string{"Ada": ada, "&lt;b&gt;Bob": bob} {
		r := ts.get(t, "/events/1", cookie)
		if r.status != 200 || r.body == anon.body {
			t.Errorf("%s: status %d, page same as anonymous: %v", who, r.status, r.body == anon.body)
		}
		if !strings.Contains(r.body, "Logged in as <strong>"+who+"</strong>") {
			t.Errorf("%s: no banner", who)
		}
		if r.header["Cache-Control"] != "private, no-store" || r.header["Vary"] != "Cookie" {
			t.Errorf("%s: Cache-Control %q Vary %q", who, r.header["Cache-Control"], r.header["Vary"])
		}
		if r.header["Surrogate-Key"] != anon.header["Surrogate-Key"] {
			t.Errorf("%s: Surrogate-Key %q, anonymous %q", who, r.header["Surrogate-Key"], anon.header["Surrogate-Key"])
		}
	}
	if strings.Contains(anon.body, "Logged in") || anon.header["Cache-Control"] != "public, max-age=60" {
		t.Errorf("anonymous page: banner or Cache-Control %q", anon.header["Cache-Control"])
	}
	if r := ts.get(t, "/events/1", "Cookie: sessionid=forged"); r.body != anon.body {
		t.Errorf("a forged session id is treated as logged in")
	}

	out := ts.get(t, "/accounts/logout", ada)
	if out.status != 302 || out.header["Location"] != "/" || out.header["Cache-Control"] != "no-store" ||
		!strings.HasPrefix(out.header["Set-Cookie"], "sessionid=; Path=/; Max-Age=0") {
		t.Errorf("logout: %d Location %q Set-Cookie %q", out.status, out.header["Location"], out.header["Set-Cookie"])
	}
	if r := ts.get(t, "/events/1", ada); r.body != anon.body {
		t.Errorf("the session still works after logout")
	}
	if r := ts.get(t, "/events/1", bob); !strings.Contains(r.body, "Logged in as") {
		t.Errorf("logging Ada out ended Bob's session")
	}

	for _, bad := range []response{
		ts.get(t, "/accounts/login?user="),
		ts.do(t, "POST", "/accounts/login", "user="+strings.Repeat("x", maxUserLen+1)),
		ts.do(t, "POST", "/accounts/login", "other=1"),
	} {
		if bad.status != 400 || bad.header["Set-Cookie"] != "" || !strings.Contains(bad.body, `class="error"`) {
			t.Errorf("bad login: %d Set-Cookie %q", bad.status, bad.header["Set-Cookie"])
		}
	}
}
