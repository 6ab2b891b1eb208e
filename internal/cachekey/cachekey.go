package cachekey

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Rules configure a Normalizer. The zero value keys the host, keeps no query
// parameter (any parameter that is not ignored means Bypass), ignores the
// default marketing parameters and uses the default length limits. Rules is
// plain data: New copies what it needs, so a Rules value may be changed or
// reused once New returns, but not concurrently with a call to New.
type Rules struct {
	// Hosts is the allowlist of hosts served. Empty means any well-formed
	// host is served and is part of the key. With a list, a request for
	// another host is ErrUnknownHost, the key carries no host and
	// Result.Host is always Hosts[0] (canonicalised).
	Hosts []string
	// QueryAllow lists the parameter names that are part of the key, matched
	// exactly against the percent-decoded name ('+' read as space). It wins
	// over QueryIgnore.
	QueryAllow []string
	// QueryIgnore lists the parameter names dropped from the key and from
	// the origin request-target; a trailing '*' makes an entry a prefix
	// match ("utm_*"). Nil means {"utm_*", "gclid", "fbclid"}; an empty
	// non-nil slice means none.
	QueryIgnore []string
	// MaxURIBytes bounds the normalised request-target (path and query) sent
	// to the origin; longer is ErrTooLong. Zero means 2048.
	MaxURIBytes int
	// MaxSegmentBytes bounds one normalised path segment; longer is
	// ErrTooLong. Zero means 200, well under NAME_MAX (255).
	MaxSegmentBytes int
}

// Defaults for zero or nil Rules fields.
var defaultQueryIgnore = []string{"utm_*", "gclid", "fbclid"}

const (
	defaultMaxURIBytes     = 2048
	defaultMaxSegmentBytes = 200
)

// Normalizer is a compiled Rules, made by New. It is immutable and safe for
// concurrent use.
type Normalizer struct {
	hosts        [][]byte            // canonical Rules.Hosts; empty means the host is keyed
	allow        map[string]struct{} // Rules.QueryAllow
	ignore       map[string]struct{} // exact Rules.QueryIgnore entries
	ignorePrefix [][]byte            // Rules.QueryIgnore entries ending in '*', without it
	maxURI       int
	maxSeg       int
}

// New compiles r. It fails for a malformed entry of r.Hosts (wrapping
// ErrBadHost) and for negative limits.
func New(r Rules) (*Normalizer, error) {
	if r.MaxURIBytes < 0 || r.MaxSegmentBytes < 0 {
		return nil, errors.New("cachekey: negative MaxURIBytes or MaxSegmentBytes")
	}
	n := &Normalizer{
		allow:  make(map[string]struct{}, len(r.QueryAllow)),
		ignore: make(map[string]struct{}),
		maxURI: cmp.Or(r.MaxURIBytes, defaultMaxURIBytes),
		maxSeg: cmp.Or(r.MaxSegmentBytes, defaultMaxSegmentBytes),
	}
	for i, h := range r.Hosts {
		c, err := appendHost(nil, []byte(h))
		if err != nil {
			return nil, fmt.Errorf("%w (Rules.Hosts[%d] = %q)", err, i, h)
		}
		n.hosts = append(n.hosts, c)
	}
	for _, name := range r.QueryAllow {
		n.allow[name] = struct{}{}
	}
	ignore := r.QueryIgnore
	if ignore == nil {
		ignore = defaultQueryIgnore
	}
	for _, name := range ignore {
		if p, ok := strings.CutSuffix(name, "*"); ok {
			n.ignorePrefix = append(n.ignorePrefix, []byte(p))
		} else {
			n.ignore[name] = struct{}{}
		}
	}
	return n, nil
}

// Result is the outcome of normalising one request. Its slices point into the
// buffer passed to Normalize and overlap one another (Key, Host and URI share
// bytes); they are valid until that buffer is reused, and must not be
// modified. A Result is a value; sharing one between goroutines is safe as
// long as nobody reuses its buffer.
type Result struct {
	// Key is the cache key (see the package documentation for its format).
	Key []byte
	// Host is the canonical host to send to the origin.
	Host []byte
	// URI is the origin-form request-target to send to the origin. When
	// Bypass is false it equals Key without its host.
	URI []byte
	// Bypass means the query has a parameter that is neither allowed nor
	// ignored: serve from the origin and never store. Key is then the
	// normalised path without a query, and URI carries the path and all
	// parameters that are not ignored, in their original order.
	Bypass bool
}

// Normalize normalises a request's Host header and raw request-target
// (origin-form "/p?q" or absolute-form "http://host/p?q"). It appends to buf,
// which may be nil, and returns the Result, whose slices point into the
// returned buffer, and the grown buffer; on error it returns buf truncated to
// its original length. It does not allocate when buf has enough spare
// capacity (the host, the normalised request-target, and as much again for
// sorting the query: 2*MaxURIBytes+300 is plenty unless ignored parameters
// are huge) and the query has at most 32 kept parameters.
func (n *Normalizer) Normalize(buf []byte, host, requestURI []byte) (Result, []byte, error) {
	start := len(buf)
	res, buf, err := n.normalize(buf, host, requestURI)
	if err != nil {
		return Result{}, buf[:start], err
	}
	return res, buf, nil
}

func (n *Normalizer) normalize(buf []byte, host, target []byte) (Result, []byte, error) {
	start := len(buf)
	var absHost []byte
	absolute := len(target) == 0 || target[0] != '/'
	if absolute {
		rest, ok := cutScheme(target)
		if !ok {
			return Result{}, buf, fmt.Errorf("%w: request-target is neither origin-form nor http(s) absolute-form", ErrBadPath)
		}
		end := len(rest)
		if i := bytes.IndexAny(rest, "/?#"); i >= 0 {
			end = i
		}
		absHost, target = rest[:end], rest[end:]
	}

	buf, err := appendHost(buf, host)
	if err != nil {
		return Result{}, buf, err
	}
	hostEnd := len(buf)
	if absolute {
		buf, err = appendHost(buf, absHost)
		if err != nil {
			return Result{}, buf, fmt.Errorf("%w (absolute-form request-target)", err)
		}
		same := bytes.Equal(buf[start:hostEnd], buf[hostEnd:])
		buf = buf[:hostEnd]
		if !same {
			return Result{}, buf, fmt.Errorf("%w: absolute-form host differs from Host header", ErrBadHost)
		}
	}
	if len(n.hosts) > 0 {
		if !n.knownHost(buf[start:hostEnd]) {
			return Result{}, buf, fmt.Errorf("%w: %q", ErrUnknownHost, buf[start:hostEnd])
		}
		buf = append(buf[:start], n.hosts[0]...)
		hostEnd = len(buf)
	}

	path, query := target, []byte(nil)
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i+1:]
	}
	buf, err = n.appendPath(buf, path, hostEnd)
	if err != nil {
		return Result{}, buf, err
	}
	pathEnd := len(buf)
	buf, bypass, err := n.appendQuery(buf, query, hostEnd)
	if err != nil {
		return Result{}, buf, err
	}

	keyStart, keyEnd := start, len(buf)
	if len(n.hosts) > 0 {
		keyStart = hostEnd
	}
	if bypass {
		keyEnd = pathEnd
	}
	return Result{
		Key:    buf[keyStart:keyEnd:keyEnd],
		Host:   buf[start:hostEnd:hostEnd],
		URI:    buf[hostEnd:len(buf):len(buf)],
		Bypass: bypass,
	}, buf, nil
}

// cutScheme removes a leading "http://" or "https://", in any case.
func cutScheme(s []byte) ([]byte, bool) {
	for _, scheme := range [...]string{"http://", "https://"} {
		if len(s) >= len(scheme) && strings.EqualFold(string(s[:len(scheme)]), scheme) {
			return s[len(scheme):], true
		}
	}
	return nil, false
}

func (n *Normalizer) knownHost(h []byte) bool {
	for _, k := range n.hosts {
		if bytes.Equal(h, k) {
			return true
		}
	}
	return false
}

// What happens to a query parameter.
const (
	paramKeep = iota
	paramDrop
	paramUnknown
)

// classify decides the fate of a parameter by its decoded name.
func (n *Normalizer) classify(name []byte) int {
	if _, ok := n.allow[string(name)]; ok {
		return paramKeep
	}
	if _, ok := n.ignore[string(name)]; ok {
		return paramDrop
	}
	for _, p := range n.ignorePrefix {
		if bytes.HasPrefix(name, p) {
			return paramDrop
		}
	}
	return paramUnknown
}

// param locates a kept parameter in buf: buf[off:end], its name buf[off:name].
type param struct{ off, name, end int }

// appendQuery appends "?" and the normalised query q to buf, or nothing when
// no parameter is kept. uriStart is where the request-target starts in buf.
func (n *Normalizer) appendQuery(buf, q []byte, uriStart int) ([]byte, bool, error) {
	if len(q) == 0 {
		return buf, false, nil
	}
	qmark := len(buf)
	buf = append(buf, '?')
	qstart := len(buf)
	var stack [32]param
	params := stack[:0]
	bypass := false
	for len(q) > 0 {
		p := q
		q = nil
		if i := bytes.IndexByte(p, '&'); i >= 0 {
			p, q = p[:i], p[i+1:]
		}
		if len(p) == 0 {
			continue
		}
		sep := len(buf)
		if sep > qstart {
			buf = append(buf, '&')
		}
		off := len(buf)
		var name int
		var err error
		buf, name, err = appendParam(buf, p)
		if err != nil {
			return buf, false, err
		}
		end := len(buf)
		buf = appendDecoded(buf, buf[off:name])
		fate := n.classify(buf[end:])
		buf = buf[:end]
		switch fate {
		case paramDrop:
			buf = buf[:sep]
			continue
		case paramUnknown:
			bypass = true
		}
		if end-uriStart > n.maxURI {
			return buf, false, fmt.Errorf("%w: request-target over %d bytes", ErrTooLong, n.maxURI)
		}
		if !bypass {
			params = append(params, param{off, name, end})
		}
	}
	if len(buf) == qstart {
		return buf[:qmark], false, nil // every parameter was dropped
	}
	if bypass {
		return buf, true, nil
	}
	b := buf
	byName := func(x, y param) int { return compareDecoded(b[x.off:x.name], b[y.off:y.name]) }
	if slices.IsSortedFunc(params, byName) {
		return buf, false, nil
	}
	slices.SortStableFunc(params, byName)
	mark := len(buf)
	for k, p := range params {
		if k > 0 {
			buf = append(buf, '&')
		}
		buf = append(buf, buf[p.off:p.end]...)
	}
	k := copy(buf[qstart:], buf[mark:])
	return buf[:qstart+k], false, nil
}

// FromURL normalises an absolute URL ("https://host/path?q"), a
// scheme-relative one ("//host/path") or a path ("/path?q", served by
// Rules.Hosts[0]; ErrBadHost when Rules.Hosts is empty). It is meant for URL
// lists, sitemaps and invalidation messages, and allocates a new buffer.
func (n *Normalizer) FromURL(raw string) (Result, error) {
	var host, target string
	switch rest, ok := cutScheme([]byte(raw)); {
	case ok:
		host, target = splitAuthority(string(rest))
	case strings.HasPrefix(raw, "//"):
		host, target = splitAuthority(raw[2:])
	case strings.HasPrefix(raw, "/"):
		if len(n.hosts) == 0 {
			return Result{}, fmt.Errorf("%w: URL %q has no host and Rules.Hosts is empty", ErrBadHost, raw)
		}
		host, target = string(n.hosts[0]), raw
	default:
		return Result{}, fmt.Errorf("%w: URL %q is not http(s), scheme-relative or a path", ErrBadPath, raw)
	}
	if target == "" || target[0] == '?' {
		target = "/" + target
	}
	res, _, err := n.Normalize(nil, []byte(host), []byte(target))
	if err != nil {
		return Result{}, fmt.Errorf("%w (URL %q)", err, raw)
	}
	return res, nil
}

// splitAuthority splits "host/path?q" after the host.
func splitAuthority(s string) (host, target string) {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// Split splits a key made by Normalize into its host ("" when the key is
// hostless), its path (which starts with '/') and its query ("" when there is
// none).
func Split(key string) (host, path, query string) {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return key, "", ""
	}
	host, path = key[:i], key[i:]
	if j := strings.IndexByte(path, '?'); j >= 0 {
		path, query = path[:j], path[j+1:]
	}
	return host, path, query
}
