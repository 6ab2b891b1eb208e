package gen

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pregen/edge/internal/cachekey"
)

// Defaults of the Sitemaps limits.
const (
	// DefaultSitemapMaxBytes caps one sitemap file, as downloaded and as
	// decompressed (the protocol allows 50 MB uncompressed).
	DefaultSitemapMaxBytes = 100 << 20
	// DefaultSitemapMaxURLs is the protocol's limit of <loc> entries per
	// file.
	DefaultSitemapMaxURLs = 50000
	// DefaultSitemapMaxDepth bounds nested sitemap indexes.
	DefaultSitemapMaxDepth = 3
	// MaxLocBytes is the longest <loc> accepted; a longer one is an error
	// naming its line, and the file goes on after it.
	MaxLocBytes = 8 << 10
)

// Sitemaps reads sitemaps (the sitemaps.org protocol): a sitemap index
// leads to child sitemaps, read in order, recursively up to MaxDepth; a
// urlset yields its <loc> entries. A file is recognised as gzip by its
// magic bytes, whatever its name or Content-Type, and parsed token by token,
// so memory stays flat however many URLs it lists. A sitemap fetched over
// HTTP is first downloaded to a temp file (bounded in size and time, so a
// slow run never holds a connection open) and then read from it.
//
// Sitemaps are not pages: they are never stored. The zero value is usable;
// a Sitemaps must not be changed once a Source is running. It is safe for
// concurrent use.
type Sitemaps struct {
	// Client fetches sitemaps over HTTP. Nil means a client with a 2-minute
	// overall timeout.
	Client *http.Client
	// Origin is the origin's URL ("http://127.0.0.1:8000"). When Keys has a
	// host allowlist, a sitemap on one of the site's hosts, or on the
	// origin's own host, is fetched from the origin directly — never
	// through edge, which may hold a stale copy — with the site's canonical
	// Host, X-Forwarded-Host and X-Forwarded-Proto, as a fill is, so the
	// origin writes the site's public URLs into it. Empty: every sitemap
	// is fetched from its URL as given.
	Origin string
	// Keys recognises the site's hosts (see Origin). Nil: none.
	Keys *cachekey.Normalizer
	// Proto is sent as X-Forwarded-Proto with origin fetches. Empty means
	// "http".
	Proto string
	// MaxBytes caps one sitemap file, downloaded and decompressed. Zero
	// means DefaultSitemapMaxBytes.
	MaxBytes int64
	// MaxURLs caps the <loc> entries read from one file; the rest of the
	// file is skipped with an error. Zero means DefaultSitemapMaxURLs.
	MaxURLs int
	// MaxDepth bounds the nesting of sitemap indexes (an index of
	// sitemaps is depth 1). Zero means DefaultSitemapMaxDepth.
	MaxDepth int
	// TempDir holds downloads while they are read. Empty means os.TempDir().
	TempDir string
}

// Source yields the page URLs of the sitemap at loc (an http(s) URL or a
// file name) and of every sitemap it leads to. An unreachable, oversized
// or malformed sitemap is yielded as an error naming it (with the line,
// for XML errors) and the source goes on with the next one; URLs read from
// a file before its error are still yielded.
func (s *Sitemaps) Source(ctx context.Context, loc string) Source {
	return func(yield func(Entry, error) bool) {
		s.walk(ctx, loc, 1, yield)
	}
}

// walk reads one sitemap and the children it names; it returns false when
// the consumer stopped or ctx is done.
func (s *Sitemaps) walk(ctx context.Context, loc string, depth int, yield func(Entry, error) bool) bool {
	if ctx.Err() != nil {
		return false
	}
	fail := func(line int, err error) bool {
		return yield(Entry{From: loc, Line: line}, fmt.Errorf("gen: sitemap %s: %w", loc, err))
	}
	rc, err := s.open(ctx, loc)
	if err != nil {
		return fail(0, err)
	}
	var children []Entry
	for it, err := range parseSitemap(rc, s.maxBytes(), s.maxURLs()) {
		if err != nil {
			if !fail(it.Line, err) {
				rc.Close()
				return false
			}
			continue
		}
		if it.Index {
			children = append(children, Entry{URL: it.Loc, From: loc, Line: it.Line})
			continue
		}
		if !yield(Entry{URL: it.Loc, From: loc, Line: it.Line}, nil) {
			rc.Close()
			return false
		}
	}
	rc.Close()
	for _, c := range children {
		child := resolveLoc(loc, c.URL)
		if depth >= s.maxDepth() {
			err := fmt.Errorf("gen: sitemap %s: index nested more than %d deep; not read", child, s.maxDepth())
			if !yield(c, err) {
				return false
			}
			continue
		}
		if !s.walk(ctx, child, depth+1, yield) {
			return false
		}
	}
	return ctx.Err() == nil
}

// resolveLoc resolves a child sitemap's location against its index's: a
// URL against a URL, a relative name against a local index file's
// directory.
func resolveLoc(parent, child string) string {
	if isHTTP(child) {
		return child
	}
	if isHTTP(parent) {
		if p, err := url.Parse(parent); err == nil {
			if c, err := url.Parse(child); err == nil {
				return p.ResolveReference(c).String()
			}
		}
		return child
	}
	if filepath.IsAbs(child) {
		return child
	}
	return filepath.Join(filepath.Dir(parent), child)
}

func isHTTP(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func (s *Sitemaps) maxBytes() int64 {
	if s.MaxBytes <= 0 {
		return DefaultSitemapMaxBytes
	}
	return s.MaxBytes
}

func (s *Sitemaps) maxURLs() int {
	if s.MaxURLs <= 0 {
		return DefaultSitemapMaxURLs
	}
	return s.MaxURLs
}

func (s *Sitemaps) maxDepth() int {
	if s.MaxDepth <= 0 {
		return DefaultSitemapMaxDepth
	}
	return s.MaxDepth
}

var defaultSitemapClient = &http.Client{Timeout: 2 * time.Minute}

// open returns the sitemap's bytes as stored (possibly gzip'd): a local
// file, or a download spooled to a temp file that is removed on Close.
func (s *Sitemaps) open(ctx context.Context, loc string) (io.ReadCloser, error) {
	if !isHTTP(loc) {
		return os.Open(loc)
	}
	req, err := s.request(ctx, loc)
	if err != nil {
		return nil, err
	}
	c := s.Client
	if c == nil {
		c = defaultSitemapClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s from %s", resp.Status, req.URL.Redacted())
	}
	f, err := os.CreateTemp(s.TempDir, "edge-sitemap-*")
	if err != nil {
		return nil, err
	}
	tf := &tempFile{f}
	n, err := io.Copy(f, io.LimitReader(resp.Body, s.maxBytes()+1))
	switch {
	case err != nil:
		tf.Close()
		return nil, fmt.Errorf("download: %w", err)
	case n > s.maxBytes():
		tf.Close()
		return nil, fmt.Errorf("larger than %d bytes", s.maxBytes())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		tf.Close()
		return nil, err
	}
	return tf, nil
}

// tempFile is a spooled download, removed when closed.
type tempFile struct{ *os.File }

func (t *tempFile) Close() error {
	err := t.File.Close()
	if rerr := os.Remove(t.Name()); err == nil {
		err = rerr
	}
	return err
}

// request builds the GET for a sitemap URL, routed to the origin when the
// URL is on the site (see Sitemaps.Origin).
func (s *Sitemaps) request(ctx context.Context, loc string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "pregen-edge/1 (sitemap)")
	if s.Origin == "" || s.Keys == nil {
		return req, nil
	}
	if _, err := s.Keys.FromURL("/"); err != nil {
		return req, nil // no host allowlist: every host is "the site"
	}
	var host, target string
	if r, err := s.Keys.FromURL(loc); err == nil {
		host, target = string(r.Host), string(r.URI)
	} else if sameHostPort(req.URL, s.Origin) {
		r, err := s.Keys.FromURL(req.URL.RequestURI())
		if err != nil {
			return req, nil
		}
		host, target = string(r.Host), string(r.URI)
	} else {
		return req, nil
	}
	oreq, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.Origin, "/")+target, nil)
	if err != nil {
		return nil, err
	}
	oreq.Header = req.Header
	oreq.Host = host
	oreq.Header.Set("X-Forwarded-Host", host)
	proto := s.Proto
	if proto == "" {
		proto = "http"
	}
	oreq.Header.Set("X-Forwarded-Proto", proto)
	return oreq, nil
}

// sameHostPort reports whether u is on the host and port of the URL other.
func sameHostPort(u *url.URL, other string) bool {
	o, err := url.Parse(other)
	if err != nil {
		return false
	}
	return hostPort(u) == hostPort(o)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port)
}

// sitemapLoc is one <loc> of a sitemap: a page URL, or (Index) a child
// sitemap of an index.
type sitemapLoc struct {
	Loc   string
	Line  int
	Index bool
}

var errTooBig = errors.New("too big")

// capReader fails with errTooBig once more than n bytes were read through
// it, rather than silently truncating.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errTooBig
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// parseSitemap reads a sitemap (gzip'd or not, recognised by its magic
// bytes) token by token and yields its <loc> entries: those of <url>
// elements of a <urlset>, or those of <sitemap> elements of a
// <sitemapindex> (Index set). A bad entry (empty or over MaxLocBytes) is
// yielded as an error and reading goes on; malformed XML, a root element
// that is neither, more than maxBytes (decompressed) or more than maxURLs
// entries end it with an error. It never yields more entries than the
// input has <loc> elements.
func parseSitemap(r io.Reader, maxBytes int64, maxURLs int) iter.Seq2[sitemapLoc, error] {
	return func(yield func(sitemapLoc, error) bool) {
		br := bufio.NewReader(&capReader{r: r, left: maxBytes})
		var in io.Reader = br
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			zr, err := gzip.NewReader(br)
			if err != nil {
				yield(sitemapLoc{}, fmt.Errorf("bad gzip: %w", err))
				return
			}
			defer zr.Close()
			in = &capReader{r: zr, left: maxBytes}
		}
		d := xml.NewDecoder(in)
		d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
			switch strings.ToLower(charset) {
			case "us-ascii", "ascii", "utf8":
				return r, nil
			}
			return nil, fmt.Errorf("encoding %q is not UTF-8", charset)
		}
		parseXML(d, maxBytes, maxURLs, yield)
	}
}

// parseXML is the token loop of parseSitemap.
func parseXML(d *xml.Decoder, maxBytes int64, maxURLs int, yield func(sitemapLoc, error) bool) {
	lineErr := func(err error) error {
		line, _ := d.InputPos()
		switch {
		case errors.Is(err, errTooBig):
			return fmt.Errorf("larger than %d bytes", maxBytes)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("truncated at line %d", line)
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("malformed XML at line %d: %s", se.Line, se.Msg)
		}
		return fmt.Errorf("line %d: %w", line, err)
	}
	var (
		root    string   // "urlset" or "sitemapindex"
		closed  bool     // the root element ended
		stack   []string // open elements' local names below the root
		inLoc   bool
		loc     []byte
		tooLong bool
		locLine int
		count   int
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if root == "" {
				yield(sitemapLoc{}, errors.New("empty: no <urlset> or <sitemapindex>"))
			}
			return
		}
		if err != nil {
			yield(sitemapLoc{}, lineErr(err))
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if root == "" {
				if name != "urlset" && name != "sitemapindex" {
					line, _ := d.InputPos()
					yield(sitemapLoc{Line: line}, fmt.Errorf("not a sitemap: root element <%s> at line %d", name, line))
					return
				}
				root = name
				continue
			}
			if closed {
				line, _ := d.InputPos()
				yield(sitemapLoc{Line: line}, fmt.Errorf("malformed XML at line %d: element <%s> after the root element", line, name))
				return
			}
			stack = append(stack, name)
			parent := ""
			if len(stack) >= 2 {
				parent = stack[len(stack)-2]
			}
			if name == "loc" && len(stack) == 2 &&
				(root == "urlset" && parent == "url" || root == "sitemapindex" && parent == "sitemap") {
				inLoc, loc, tooLong = true, loc[:0], false
				locLine, _ = d.InputPos()
			}
		case xml.CharData:
			if inLoc && !tooLong {
				if len(loc)+len(t) > MaxLocBytes {
					tooLong, loc = true, loc[:0]
				} else {
					loc = append(loc, t...)
				}
			}
		case xml.EndElement:
			if len(stack) == 0 {
				closed = true // the root's end
				continue
			}
			stack = stack[:len(stack)-1]
			if !inLoc {
				continue
			}
			inLoc = false
			s := strings.TrimSpace(string(loc))
			var err error
			switch {
			case tooLong:
				err = fmt.Errorf("line %d: <loc> longer than %d bytes", locLine, MaxLocBytes)
			case s == "":
				err = fmt.Errorf("line %d: empty <loc>", locLine)
			case count >= maxURLs:
				yield(sitemapLoc{Line: locLine}, fmt.Errorf("line %d: more than %d entries; the rest of the file is ignored", locLine, maxURLs))
				return
			}
			if err != nil {
				if !yield(sitemapLoc{Line: locLine}, err) {
					return
				}
				continue
			}
			count++
			if !yield(sitemapLoc{Loc: s, Line: locLine, Index: root == "sitemapindex"}, nil) {
				return
			}
		}
	}
}
