package demo

import (
	"strconv"
	"time"
)

// The rows of the three tables. Each is a pure function of the seed and its
// id; the fields are indexes into the word lists in words.go, so building a
// row allocates nothing.

type eventRow struct {
	id, edition, start, days  int
	kind, adj, field, city    int
	uni, building, fee, extra int
}

func (m *model) event(id int) eventRow {
	r := m.rows(kindEvent, id)
	n := m.n[kindEvent]
	return eventRow{
		id:       id,
		edition:  1 + r.intn(40),
		start:    int(int64(id-1) * eventSpanDays / int64(n)),
		days:     1 + r.intn(5),
		kind:     r.intn(len(eventKinds)),
		adj:      r.intn(len(adjectives)),
		field:    r.intn(len(fields)),
		city:     r.intn(len(cities)),
		uni:      r.intn(len(universities)),
		building: r.intn(len(buildings)),
		fee:      150 + 25*r.intn(20),
		extra:    r.intn(1 << 16),
	}
}

func (e *eventRow) year() int { return dayTime(e.start).Year() }

// appendTitle appends e.g. "12th International Workshop on Formal Databases".
func (e *eventRow) appendTitle(b []byte) []byte {
	b = appendOrdinal(b, e.edition)
	b = append(b, ' ')
	b = append(b, eventKinds[e.kind].name...)
	b = append(b, " on "...)
	return e.appendSubject(b)
}

func (e *eventRow) appendSubject(b []byte) []byte {
	b = append(b, adjectives[e.adj]...)
	b = append(b, ' ')
	return append(b, fields[e.field]...)
}

// appendAcronym appends e.g. "IWFD 2008".
func (e *eventRow) appendAcronym(b []byte) []byte {
	b = append(b, eventKinds[e.kind].abbr...)
	b = append(b, adjectives[e.adj][0], fields[e.field][0], ' ')
	return strconv.AppendInt(b, int64(e.year()), 10)
}

// appendWhen appends "3 Mar 2008 – 5 Mar 2008, Oslo, Norway".
func (e *eventRow) appendWhen(b []byte) []byte {
	b = appendDate(b, e.start)
	if e.days > 1 {
		b = append(b, " – "...)
		b = appendDate(b, e.start+e.days-1)
	}
	b = append(b, ", "...)
	return append(b, cities[e.city]...)
}

type personRow struct {
	id, title, first, last, uni, dept, adj, field int
	since                                         int
}

func (m *model) person(id int) personRow {
	r := m.rows(kindPerson, id)
	return personRow{
		id:    id,
		title: r.intn(len(honorifics)),
		first: r.intn(len(firstNames)),
		last:  r.intn(len(lastNames)),
		uni:   r.intn(len(universities)),
		dept:  r.intn(len(departments)),
		adj:   r.intn(len(adjectives)),
		field: r.intn(len(fields)),
		since: 1975 + r.intn(30),
	}
}

// appendName appends e.g. "Prof. Ingrid Hansen".
func (p *personRow) appendName(b []byte) []byte {
	b = append(b, honorifics[p.title]...)
	b = append(b, firstNames[p.first]...)
	b = append(b, ' ')
	return append(b, lastNames[p.last]...)
}

// appendAffiliation appends e.g. "Department of Physics, Uppsala University".
func (p *personRow) appendAffiliation(b []byte) []byte {
	b = append(b, departments[p.dept]...)
	b = append(b, ", "...)
	return append(b, universities[p.uni]...)
}

type topicRow struct {
	id, adj, field, domain int
}

func (m *model) topic(id int) topicRow {
	r := m.rows(kindTopic, id)
	return topicRow{
		id:     id,
		adj:    r.intn(len(adjectives)),
		field:  r.intn(len(fields)),
		domain: r.intn(len(domains)),
	}
}

// appendName appends e.g. "Probabilistic Verification in Healthcare".
func (t *topicRow) appendName(b []byte) []byte {
	b = append(b, adjectives[t.adj]...)
	b = append(b, ' ')
	b = append(b, fields[t.field]...)
	b = append(b, " in "...)
	return append(b, domains[t.domain]...)
}

func dayTime(day int) time.Time { return firstDay.AddDate(0, 0, day) }

// appendDate appends day as "3 Mar 2008".
func appendDate(b []byte, day int) []byte {
	return dayTime(day).AppendFormat(b, "2 Jan 2006")
}

// appendISODate appends day as "2008-03-03" (W3C Datetime, for sitemaps).
func appendISODate(b []byte, day int) []byte {
	return dayTime(day).AppendFormat(b, time.DateOnly)
}

func appendOrdinal(b []byte, n int) []byte {
	b = strconv.AppendInt(b, int64(n), 10)
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return append(b, "th"...)
	case n%10 == 1:
		return append(b, "st"...)
	case n%10 == 2:
		return append(b, "nd"...)
	case n%10 == 3:
		return append(b, "rd"...)
	}
	return append(b, "th"...)
}
