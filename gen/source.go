package gen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
	"strings"
)

// Entry is one URL (or path) read from a source, with where it was read so
// that messages can name the line.
type Entry struct {
	// URL is the text as read: an absolute http(s) URL, a scheme-relative
	// URL or a path, trimmed of surrounding white space.
	URL string
	// From names the source: a file name ("-" for standard input) or a
	// sitemap's URL or file name.
	From string
	// Line is the 1-based line in From where the entry was read; 0 if
	// unknown.
	Line int
}

// Where returns "from:line" (or just from), for messages.
func (e Entry) Where() string {
	switch {
	case e.From == "":
		return "line " + strconv.Itoa(e.Line)
	case e.Line > 0:
		return e.From + ":" + strconv.Itoa(e.Line)
	}
	return e.From
}

// Source yields the entries of a URL list or a set of sitemaps, in order,
// one at a time: a source never holds more than a bounded part of its input
// in memory. A non-nil error names what could not be read (a line too long,
// a malformed or unreachable sitemap); the source goes on with whatever it
// can still read after it, and stops when nothing more can be read. The
// Entry yielded with an error carries the position of the problem.
type Source = iter.Seq2[Entry, error]

// MaxLineBytes is the longest line a URL list may hold; a longer line is an
// error naming it, and the list goes on after it.
const MaxLineBytes = 64 << 10

// URLList reads one URL or path per line from r; name is used in messages
// (From). Blank lines and lines starting with '#' are skipped; surrounding
// white space (and a trailing '\r') is trimmed.
func URLList(r io.Reader, name string) Source {
	return func(yield func(Entry, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		for line := 1; ; line++ {
			text, long, err := readLine(br)
			if long {
				e := Entry{From: name, Line: line}
				if !yield(e, fmt.Errorf("gen: %s: line longer than %d bytes", e.Where(), MaxLineBytes)) {
					return
				}
			} else if s := strings.TrimSpace(text); s != "" && s[0] != '#' {
				if !yield(Entry{URL: s, From: name, Line: line}, nil) {
					return
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Entry{From: name, Line: line}, fmt.Errorf("gen: reading %s: %w", name, err))
				return
			}
		}
	}
}

// readLine returns the next line without its '\n'. A line longer than
// MaxLineBytes is consumed and reported with long set. err is io.EOF after
// the last line.
func readLine(br *bufio.Reader) (line string, long bool, err error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(b)+len(chunk) > MaxLineBytes+1 { // +1: the '\n'
				long, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		// err is nil (a '\n' ended the line) or ends the input.
		if long {
			return "", true, err
		}
		return strings.TrimSuffix(string(b), "\n"), false, err
	}
}

// OpenURLList opens a URL list file ("-" means stdin, which is not closed).
// The returned close function releases the file.
func OpenURLList(name string, stdin io.Reader) (Source, func() error, error) {
	if name == "-" {
		return URLList(stdin, "-"), func() error { return nil }, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("gen: URL list: %w", err)
	}
	return URLList(f, name), f.Close, nil
}

// Count returns how many entries src yields (errors are not counted), for
// a progress total. It reads the whole source; ctx stops it early.
func Count(ctx context.Context, src Source) (int64, error) {
	var n int64
	for _, err := range src {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}
