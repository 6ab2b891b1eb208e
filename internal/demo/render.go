package demo

// The HTML pages. Each render function fills a page and its Surrogate-Key;
// a row link (href="/events/42") appears in a body only if the row's tag is
// in the key, and every row whose fields are shown is linked.

const (
	listPageSize = 100 // rows per list page
	homeEvents   = 10  // latest events on the home page
)

// textStream is the filler text stream of row (kind, id), separate from the
// row's own fields.
func (m *model) textStream(kind, id int) rng { return rng(m.hash(kind+8, id)) }

// eventItem appends `<a href="/events/42">Title (ACR)</a> · dates, city`.
func (m *model) eventItem(p *page, id int) {
	e := m.event(id)
	p.aOpen(kindEvent, id)
	p.b = e.appendTitle(p.b)
	p.s(" (")
	p.b = e.appendAcronym(p.b)
	p.s(")</a> · ")
	p.b = e.appendWhen(p.b)
}

// personItem appends `<a href="/people/7">Prof. Name</a>, affiliation`.
func (m *model) personItem(p *page, id int) {
	r := m.person(id)
	p.aOpen(kindPerson, id)
	p.b = r.appendName(p.b)
	p.s("</a>, ")
	p.b = r.appendAffiliation(p.b)
}

// topicItem appends `<a href="/topics/3">Topic name</a>`.
func (m *model) topicItem(p *page, id int) {
	t := m.topic(id)
	p.aOpen(kindTopic, id)
	p.b = t.appendName(p.b)
	p.s("</a>")
}

func (m *model) item(p *page, kind, id int) {
	switch kind {
	case kindEvent:
		m.eventItem(p, id)
	case kindPerson:
		m.personItem(p, id)
	default:
		m.topicItem(p, id)
	}
}

// renderEvent renders /events/{id}: the event, its speakers and its topics.
func (m *model) renderEvent(p *page, id int) {
	e := m.event(id)
	r := m.textStream(kindEvent, id)
	p.subj = e.appendSubject(p.subj[:0])
	f := fill{subj: p.subj, city: cities[e.city], uni: universities[e.uni], year: e.year()}

	p.ids = m.eventSpeakers(p.ids[:0], id)
	ns := len(p.ids)
	p.ids = m.eventTopics(p.ids, id)
	p.tag(kindEvent, id)
	for _, x := range p.ids[:ns] {
		p.tag(kindPerson, x)
	}
	for _, x := range p.ids[ns:] {
		p.tag(kindTopic, x)
	}

	p.open()
	p.b = e.appendTitle(p.b)
	p.canonical(kindEvent, id, false)
	p.body()
	p.s("<article class=\"event\">\n<h1>")
	p.b = e.appendTitle(p.b)
	p.s(" (")
	p.b = e.appendAcronym(p.b)
	p.s(")</h1>\n<p class=\"when\">")
	p.b = e.appendWhen(p.b)
	p.s(" · ")
	p.s(buildings[e.building])
	p.s(", ")
	p.s(universities[e.uni])
	if e.start > today {
		p.s(" · <strong>Upcoming</strong></p>\n")
	} else {
		p.s(" · Past event</p>\n")
	}

	p.s("<h2>About</h2>\n")
	p.paragraph(&r, &f, 4+r.intn(3))
	p.paragraph(&r, &f, 3+r.intn(3))

	p.s("<h2>Important dates</h2>\n<table class=\"dates\">\n")
	for _, d := range []struct {
		what   string
		before int
	}{{"Abstract submission", 120}, {"Paper submission", 110}, {"Notification of acceptance", 60},
		{"Camera-ready copy", 40}, {"Early registration", 30}, {"First day", 0}} {
		p.s("<tr><th>")
		p.s(d.what)
		p.s("</th><td>")
		p.b = appendDate(p.b, e.start-d.before)
		p.s("</td></tr>\n")
	}
	p.s("</table>\n")

	p.s("<h2>Speakers</h2>\n<ul class=\"people\">\n")
	for _, x := range p.ids[:ns] {
		p.s("<li>")
		m.personItem(p, x)
		p.s("</li>\n")
	}
	p.s("</ul>\n<h2>Topics</h2>\n<ul class=\"topics\">\n")
	for _, x := range p.ids[ns:] {
		p.s("<li>")
		m.topicItem(p, x)
		p.s("</li>\n")
	}
	p.s("</ul>\n")

	p.s("<h2>Call for papers</h2>\n")
	p.paragraph(&r, &f, 3)
	p.s("<p>Topics of interest include, but are not limited to:</p>\n<ul>\n")
	for i, j := 0, r.intn(len(callTopics)); i < 6+j%5; i++ {
		p.s("<li>")
		p.sentence(&r, callTopics[(i+j)%len(callTopics)], &f)
		p.s("</li>\n")
	}
	p.s("</ul>\n<h2>Submission guidelines</h2>\n")
	p.paragraph(&r, &f, 3+r.intn(3))

	p.s("<h2>Registration</h2>\n<table class=\"fees\">\n<tr><th>Regular</th><td>EUR ")
	p.n(e.fee)
	p.s("</td></tr>\n<tr><th>Student</th><td>EUR ")
	p.n(e.fee * 3 / 5)
	p.s("</td></tr>\n<tr><th>Late registration</th><td>EUR ")
	p.n(e.fee + 100)
	p.s("</td></tr>\n</table>\n<h2>Venue and travel</h2>\n")
	p.paragraph(&r, &f, 3+r.intn(3))

	p.s("<h2>Browse</h2>\n<p><a href=\"")
	p.listHref(kindEvent, (id-1)/listPageSize+1)
	p.s("\">More events added around the same time</a> · <a href=\"/topics/\">All topics</a></p>\n")
	p.s("<h2>Programme notes</h2>\n")
	p.pad(&r, &f)
	p.s("</article>\n")
	p.close()
}

// renderPerson renders /people/{id}: the person and the events they speak at.
func (m *model) renderPerson(p *page, id int) {
	x := m.person(id)
	r := m.textStream(kindPerson, id)
	p.subj = append(append(append(p.subj[:0], adjectives[x.adj]...), ' '), fields[x.field]...)
	f := fill{subj: p.subj, city: cities[x.uni%len(cities)], uni: universities[x.uni], year: x.since}

	p.ids = m.personEvents(p.ids[:0], id)
	p.tag(kindPerson, id)
	for _, e := range p.ids {
		p.tag(kindEvent, e)
	}

	p.open()
	p.b = x.appendName(p.b)
	p.canonical(kindPerson, id, false)
	p.body()
	p.s("<article class=\"person\">\n<h1>")
	p.b = x.appendName(p.b)
	p.s("</h1>\n<p class=\"affiliation\">")
	p.b = x.appendAffiliation(p.b)
	p.s("</p>\n<h2>Biography</h2>\n<p>")
	p.b = x.appendName(p.b)
	p.s(" has worked on ")
	p.b = append(p.b, p.subj...)
	p.s(" since ")
	p.n(x.since)
	p.s(" and is a member of the ")
	p.b = x.appendAffiliation(p.b)
	p.s(".</p>\n")
	p.paragraph(&r, &f, 3+r.intn(3))
	p.s("<h2>Research interests</h2>\n<p>")
	p.b = append(p.b, p.subj...)
	for range 3 {
		p.s(", ")
		p.s(pick(&r, adjectives))
		p.s(" ")
		p.s(pick(&r, fields))
	}
	p.s(".</p>\n<h2>Events</h2>\n")
	m.eventList(p, "No events listed yet.")

	p.s("<h2>Selected publications</h2>\n<ol class=\"publications\">\n")
	for !p.full() {
		p.s("<li>")
		p.sentence(&r, pick(&r, paperTitles), &f)
		p.s(". In <em>Proceedings of the ")
		p.s(pick(&r, eventKinds).name)
		p.s(" on ")
		p.s(pick(&r, adjectives))
		p.s(" ")
		p.s(pick(&r, fields))
		p.s("</em>, ")
		p.n(x.since + r.intn(2009-x.since))
		p.s(".</li>\n")
	}
	p.s("</ol>\n</article>\n")
	p.close()
}

// renderTopic renders /topics/{id}: the topic and its latest events.
func (m *model) renderTopic(p *page, id int) {
	t := m.topic(id)
	r := m.textStream(kindTopic, id)
	p.subj = t.appendName(p.subj[:0])
	f := fill{subj: p.subj, city: pick(&r, cities), uni: pick(&r, universities), year: 1990 + r.intn(15)}

	p.ids = m.topicEvents(p.ids[:0], id)
	p.tag(kindTopic, id)
	for _, e := range p.ids {
		p.tag(kindEvent, e)
	}

	p.open()
	p.b = t.appendName(p.b)
	p.canonical(kindTopic, id, false)
	p.body()
	p.s("<article class=\"topic\">\n<h1>")
	p.b = t.appendName(p.b)
	p.s("</h1>\n<h2>About this topic</h2>\n")
	p.paragraph(&r, &f, 4+r.intn(3))
	p.paragraph(&r, &f, 3+r.intn(3))
	p.s("<h2>Latest events</h2>\n")
	m.eventList(p, "No events on this topic yet.")
	p.s("<h2>Background</h2>\n")
	p.pad(&r, &f)
	p.s("</article>\n")
	p.close()
}

// eventList appends p.ids as a list of events, or empty as a paragraph.
func (m *model) eventList(p *page, empty string) {
	if len(p.ids) == 0 {
		p.s("<p>")
		p.s(empty)
		p.s("</p>\n")
		return
	}
	p.s("<ul class=\"events\">\n")
	for _, e := range p.ids {
		p.s("<li>")
		m.eventItem(p, e)
		p.s("</li>\n")
	}
	p.s("</ul>\n")
}

var listTitles = [kindCount]string{"Events", "People", "Topics"}
var listTags = [kindCount]string{"list-events", "list-people", "list-topics"}

// listPages returns how many list pages kind has.
func (m *model) listPages(kind int) int { return (m.n[kind] + listPageSize - 1) / listPageSize }

// renderList renders list page n (1-based) of kind; it reports false if
// there is no such page.
func (m *model) renderList(p *page, kind, n int) bool {
	last := m.listPages(kind)
	if n < 1 || n > last {
		return false
	}
	first := (n-1)*listPageSize + 1
	end := min(first+listPageSize, m.n[kind]+1)
	p.tagName(listTags[kind])
	for id := first; id < end; id++ {
		p.tag(kind, id)
	}

	p.open()
	p.s(listTitles[kind])
	p.s(", page ")
	p.n(n)
	p.canonical(kind, n, true)
	p.body()
	p.s("<h1>")
	p.s(listTitles[kind])
	p.s("</h1>\n<p>")
	p.n(m.n[kind])
	p.s(" in all, page ")
	p.n(n)
	p.s(" of ")
	p.n(last)
	p.s(".</p>\n")
	m.pager(p, kind, n, last)
	p.s("<ul class=\"list\">\n")
	for id := first; id < end; id++ {
		p.s("<li>")
		m.item(p, kind, id)
		p.s("</li>\n")
	}
	p.s("</ul>\n")
	m.pager(p, kind, n, last)
	p.close()
	return true
}

// pager appends links to the first, previous, next and last list pages.
func (m *model) pager(p *page, kind, n, last int) {
	p.s("<nav class=\"pager\">")
	for _, l := range []struct {
		text string
		to   int
		ok   bool
	}{{"First", 1, n > 1}, {"Previous", n - 1, n > 1}, {"Next", n + 1, n < last}, {"Last", last, n < last}} {
		if !l.ok {
			continue
		}
		p.s("<a href=\"")
		p.listHref(kind, l.to)
		p.s("\">")
		p.s(l.text)
		p.s("</a>")
	}
	p.s("</nav>\n")
}

// renderHome renders /: an introduction, the lists and the latest events.
func (m *model) renderHome(p *page) {
	ne := m.n[kindEvent]
	p.tagName("list-home")
	p.tagName(listTags[kindEvent])
	for id := ne; id > max(0, ne-homeEvents); id-- {
		p.tag(kindEvent, id)
	}
	p.open()
	p.s("Academic Events Tracker")
	p.endTitle()
	p.body()
	p.s("<h1>Academic Events Tracker</h1>\n<p>Conferences, workshops and schools, the people who speak at them " +
		"and the topics they cover.</p>\n<ul class=\"lists\">\n<li><a href=\"/events/\">")
	p.n(ne)
	p.s(" events</a></li>\n<li><a href=\"/people/\">")
	p.n(m.n[kindPerson])
	p.s(" people</a></li>\n<li><a href=\"/topics/\">")
	p.n(m.n[kindTopic])
	p.s(" topics</a></li>\n</ul>\n<h2>Recently added events</h2>\n<ul class=\"events\">\n")
	for id := ne; id > max(0, ne-homeEvents); id-- {
		p.s("<li>")
		m.eventItem(p, id)
		p.s("</li>\n")
	}
	p.s("</ul>\n")
	p.close()
}

// renderNotFound renders the 404 page; tag names what the page would show.
func (m *model) renderNotFound(p *page) {
	p.status = 404
	if len(p.keys) == 0 {
		p.tagName("not-found")
	}
	p.open()
	p.s("Page not found")
	p.endTitle()
	p.body()
	p.s("<h1>Page not found</h1>\n<p>There is no page at this address. It may have been removed, " +
		"or the link you followed may be wrong.</p>\n<p>Try the <a href=\"/events/\">list of events</a>, " +
		"the <a href=\"/people/\">people</a> or the <a href=\"/topics/\">topics</a>.</p>\n")
	p.close()
}

// renderLogin renders the login form, with an error message if msg != "".
func (m *model) renderLogin(p *page, msg string) {
	p.open()
	p.s("Log in")
	p.endTitle()
	p.body()
	p.s("<h1>Log in</h1>\n")
	if msg != "" {
		p.s("<p class=\"error\">")
		p.s(msg)
		p.s("</p>\n")
	}
	p.s("<form method=\"post\" action=\"/accounts/login\">\n<p><label>User name " +
		"<input name=\"user\" autocomplete=\"username\" required maxlength=\"64\"></label></p>\n" +
		"<p><button type=\"submit\">Log in</button></p>\n</form>\n")
	p.close()
}
