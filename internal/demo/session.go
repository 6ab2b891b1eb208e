package demo

import (
	"crypto/rand"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

const (
	sessionCookie = "sessionid"
	maxSessions   = 1 << 16 // beyond this, logging in forgets an arbitrary session
	maxUserLen    = 64
)

// sessions maps opaque session ids to user names, like Django's session
// store. There is no password: any name logs in.
type sessions struct {
	mu sync.Mutex        // protects m
	m  map[string]string // session id → user name
}

func newSessions() sessions { return sessions{m: make(map[string]string)} }

// user returns the name logged in by the request's session cookie, or "".
func (s *sessions) user(ctx *fasthttp.RequestCtx) string {
	id := ctx.Request.Header.Cookie(sessionCookie)
	if len(id) == 0 {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[string(id)]
}

func (s *sessions) create(user string) string {
	id := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[id] = user
	return id
}

func (s *sessions) delete(id []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, string(id))
}

// login serves /accounts/login: GET shows the form; POST with the form field
// user, or GET with ?user=NAME, starts a session and redirects to /.
func (s *Site) login(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	var name []byte
	switch {
	case ctx.IsPost():
		name = ctx.PostArgs().Peek("user")
		if name == nil {
			if f, err := ctx.MultipartForm(); err == nil && len(f.Value["user"]) > 0 {
				name = []byte(f.Value["user"][0])
			}
		}
	case ctx.IsGet() || ctx.IsHead():
		name = ctx.QueryArgs().Peek("user")
		if name == nil {
			s.loginForm(ctx, fasthttp.StatusOK, "")
			return
		}
	default:
		methodNotAllowed(ctx, "GET, HEAD, POST")
		return
	}
	if len(name) == 0 || len(name) > maxUserLen || !utf8.Valid(name) {
		s.loginForm(ctx, fasthttp.StatusBadRequest, "Please give a user name of 1 to 64 characters.")
		return
	}
	id := s.logins.create(string(name))
	ctx.Response.Header.Add("Set-Cookie", sessionCookie+"="+id+"; Path=/; HttpOnly")
	redirectHome(ctx)
}

// logout serves /accounts/logout: it ends the session, clears the cookie and
// redirects to /.
func (s *Site) logout(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if !ctx.IsGet() && !ctx.IsPost() && !ctx.IsHead() {
		methodNotAllowed(ctx, "GET, HEAD, POST")
		return
	}
	if id := ctx.Request.Header.Cookie(sessionCookie); len(id) > 0 {
		s.logins.delete(id)
	}
	ctx.Response.Header.Add("Set-Cookie",
		sessionCookie+"=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly")
	redirectHome(ctx)
}

func (s *Site) loginForm(ctx *fasthttp.RequestCtx, status int, msg string) {
	p := getPage(s.logins.user(ctx))
	defer putPage(p)
	s.model.renderLogin(p, msg)
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	if p.user != "" {
		ctx.Response.Header.Set("Vary", "Cookie")
	}
	ctx.SetBody(p.b)
}

func redirectHome(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Location", "/")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetStatusCode(fasthttp.StatusFound)
	ctx.SetBodyString("<!DOCTYPE html>\n<p>Redirecting to <a href=\"/\">/</a>.</p>\n")
}
