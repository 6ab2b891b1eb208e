package demo

import (
	"strconv"
	"sync"
)

// pageTarget is the size detail pages are padded to, in bytes.
const pageTarget = 16 << 10

// page is the render buffer of one HTML response: the body, the
// Surrogate-Key value naming the rows the body shows, and scratch space.
// Pages are pooled; a page is used by one goroutine at a time.
type page struct {
	b      []byte // body
	keys   []byte // Surrogate-Key: space-separated tags
	ids    []int  // scratch: related row ids
	subj   []byte // scratch: the subject filler text talks about
	status int
	user   string // the logged-in user, "" when anonymous
}

var pages = sync.Pool{New: func() any {
	return &page{b: make([]byte, 0, pageTarget+2048), keys: make([]byte, 0, 1024)}
}}

func getPage(user string) *page {
	p := pages.Get().(*page)
	p.b, p.keys, p.ids, p.subj = p.b[:0], p.keys[:0], p.ids[:0], p.subj[:0]
	p.status, p.user = 200, user
	return p
}

func putPage(p *page) {
	if cap(p.b) > 1<<20 { // do not keep a buffer a huge list page grew
		return
	}
	pages.Put(p)
}

func (p *page) s(str string) { p.b = append(p.b, str...) }
func (p *page) n(i int)      { p.b = strconv.AppendInt(p.b, int64(i), 10) }

// tag adds a row's tag ("event-42") to the Surrogate-Key.
func (p *page) tag(kind, id int) {
	if len(p.keys) > 0 {
		p.keys = append(p.keys, ' ')
	}
	p.keys = append(p.keys, kindNames[kind].tag...)
	p.keys = strconv.AppendInt(p.keys, int64(id), 10)
}

// tagName adds a non-row tag ("list-events") to the Surrogate-Key.
func (p *page) tagName(t string) {
	if len(p.keys) > 0 {
		p.keys = append(p.keys, ' ')
	}
	p.keys = append(p.keys, t...)
}

// href appends the path of row (kind, id): "/events/42".
func (p *page) href(kind, id int) {
	p.s(kindNames[kind].dir)
	p.n(id)
}

// aOpen appends `<a href="/events/42">`.
func (p *page) aOpen(kind, id int) {
	p.s(`<a href="`)
	p.href(kind, id)
	p.s(`">`)
}

// listHref appends the path of list page n of kind: "/events/?page=3".
func (p *page) listHref(kind, n int) {
	p.s(kindNames[kind].dir)
	if n > 1 {
		p.s("?page=")
		p.n(n)
	}
}

// escaped appends s with the HTML special characters escaped.
func (p *page) escaped(s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			p.s("&lt;")
		case '>':
			p.s("&gt;")
		case '&':
			p.s("&amp;")
		case '"':
			p.s("&#34;")
		case '\'':
			p.s("&#39;")
		default:
			p.b = append(p.b, c)
		}
	}
}

// open starts the document up to and including "<title>"; the caller appends
// the title text and then calls body.
func (p *page) open() {
	p.s("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
}

const style = `<style>
body{font:16px/1.5 Georgia,serif;max-width:52em;margin:0 auto;padding:0 1em;color:#222}
header,footer{font-family:Helvetica,Arial,sans-serif;font-size:14px;border-bottom:1px solid #ccc;padding:.5em 0}
footer{border-top:1px solid #ccc;border-bottom:0;margin-top:2em;color:#666}
header nav a{margin-right:1em}.session{background:#ffd;padding:.3em .6em;border:1px solid #cc9}
h1{font-size:1.6em;line-height:1.2}h2{font-size:1.2em;margin-top:1.5em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}
.when{color:#555}.pager a{margin:0 .3em}
</style>
`

// canonical ends the title and names the page's own path.
func (p *page) canonical(kind, id int, list bool) {
	p.s("</title>\n<link rel=\"canonical\" href=\"")
	if list {
		p.listHref(kind, id)
	} else {
		p.href(kind, id)
	}
	p.s("\">\n")
}

// endTitle ends the title of a page that has no canonical path.
func (p *page) endTitle() { p.s("</title>\n") }

// body ends the head (after canonical or endTitle) and opens the body: site
// header, navigation, the session banner and <main>.
func (p *page) body() {
	p.s(style)
	p.s("</head>\n<body>\n<header><nav><a href=\"/\"><strong>Academic Events Tracker</strong></a> " +
		"<a href=\"/events/\">Events</a> <a href=\"/people/\">People</a> <a href=\"/topics/\">Topics</a> ")
	if p.user == "" {
		p.s("<a href=\"/accounts/login\">Log in</a></nav></header>\n")
	} else {
		p.s("</nav></header>\n<div class=\"session\">Logged in as <strong>")
		p.escaped(p.user)
		p.s("</strong> · <a href=\"/accounts/logout\">Log out</a></div>\n")
	}
	p.s("<main>\n")
}

const footer = "</main>\n<footer><p>Academic Events Tracker is a deliberately slow demo site: " +
	"every page is rendered on request from generated data.</p>\n" +
	"<p><a href=\"/\">Home</a> · <a href=\"/events/\">Events</a> · <a href=\"/people/\">People</a> · " +
	"<a href=\"/topics/\">Topics</a> · <a href=\"/sitemap.xml\">Sitemap</a></p></footer>\n</body>\n</html>\n"

func (p *page) close() { p.s(footer) }

// full reports whether the body has reached the padding target.
func (p *page) full() bool { return len(p.b)+len(footer) >= pageTarget }

// fill holds what filler text talks about.
type fill struct {
	subj      []byte
	city, uni string
	year      int
}

// sentence appends template t with its placeholders filled in.
func (p *page) sentence(r *rng, t string, f *fill) {
	for i := 0; i < len(t); i++ {
		if t[i] != '%' || i+1 == len(t) {
			p.b = append(p.b, t[i])
			continue
		}
		i++
		switch t[i] {
		case 'S':
			p.b = append(p.b, f.subj...)
		case 'C':
			p.s(f.city)
		case 'U':
			p.s(f.uni)
		case 'Y':
			p.n(f.year)
		case 'A':
			p.s(pick(r, adjectives))
		case 'F':
			p.s(pick(r, fields))
		case 'D':
			p.s(pick(r, domains))
		default:
			p.b = append(p.b, '%', t[i])
		}
	}
}

// paragraph appends a <p> of n random sentences.
func (p *page) paragraph(r *rng, f *fill, n int) {
	p.s("<p>")
	j := r.intn(len(sentences))
	for i := range n {
		if i > 0 {
			p.s(" ")
			j = (j + 1 + r.intn(len(sentences)-1)) % len(sentences) // never the same twice running
		}
		p.sentence(r, sentences[j], f)
	}
	p.s("</p>\n")
}

// pad appends paragraphs until the page reaches its target size.
func (p *page) pad(r *rng, f *fill) {
	for !p.full() {
		p.paragraph(r, f, 2+r.intn(4))
	}
}
