package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// File names inside a page directory.
const (
	fileBody   = "index.html"
	fileGzip   = "index.html.gz"
	fileBrotli = "index.html.br"
	fileMeta   = "index.html.meta"
)

// Names reserved for edge itself, relative to the store root.
const (
	edgeDir = "@edge"
	tmpDir  = "@edge/tmp"
	dbFile  = "@edge/index.db"
)

// Limits on keys. Segments come from cachekey already bounded to 200 bytes;
// the directory path is bounded well below PATH_MAX (4096) so that every
// file name the store builds stays valid, and the key below bbolt's
// MaxKeySize once a tag is prepended to it.
const (
	maxSegment = 200
	maxName    = 255
	maxDirLen  = 3800
	maxKeyLen  = 16 << 10
	maxTagLen  = 1024
)

// File names inside a page directory, exported for tiers that mirror the
// layout (the S3 tier uses the same relative paths as object keys).
const (
	BodyFile   = fileBody
	GzipFile   = fileGzip
	BrotliFile = fileBrotli
	MetaFile   = fileMeta
)

// PageDir maps a normalised key to its page directory relative to the store
// root ("." for the root page "/"), following the layout in the package
// documentation. It returns an error wrapping ErrBadKey for a key the
// layout cannot hold.
func PageDir(key string) (string, error) { return pageDir(key) }

// pageFiles lists the files a page directory may hold, in write order:
// variants first, then the body, then the sidecar (the commit record).
var pageFiles = [...]string{fileGzip, fileBrotli, fileBody, fileMeta}

// pageDir maps a key to its directory, relative to the store root ("." for
// the root page "/"). It returns an error wrapping ErrBadKey for anything that
// is not a normalised key; the result never contains "." or ".." elements,
// never starts with '@' (so never names @edge) and never names a file a page
// directory holds.
func pageDir(key string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %.80q: %s", ErrBadKey, key, why)
	}
	if len(key) > maxKeyLen {
		return bad("too long")
	}
	slash := strings.IndexByte(key, '/')
	if slash < 0 {
		return bad("no path")
	}
	host, rest := key[:slash], key[slash:]
	path, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery && query == "" {
		return bad("empty query")
	}

	var b strings.Builder
	b.Grow(len(key) + 8)
	if host != "" {
		if why := checkName(host); why != "" {
			return bad("host " + why)
		}
		if host[0] == '@' || host[0] == '%' || isReserved(host) {
			return bad("reserved host name")
		}
		b.WriteString(host)
	}
	if path != "/" {
		segs := strings.Split(path[1:], "/")
		trailing := segs[len(segs)-1] == ""
		if trailing {
			segs = segs[:len(segs)-1]
		}
		for _, s := range segs {
			if why := checkName(s); why != "" {
				return bad("segment " + why)
			}
			if len(s) > maxSegment {
				return bad("segment longer than 200 bytes")
			}
			if strings.HasPrefix(s, "%40") || strings.HasPrefix(s, "%69") {
				return bad("segment starts with an escape")
			}
			if b.Len() > 0 {
				b.WriteByte('/')
			}
			switch {
			case s[0] == '@':
				b.WriteString("%40")
				b.WriteString(s[1:])
			case isReserved(s):
				b.WriteString("%69")
				b.WriteString(s[1:])
			default:
				b.WriteString(s)
			}
		}
		if trailing {
			if b.Len() > 0 {
				b.WriteByte('/')
			}
			b.WriteByte('@')
		}
	}
	if hasQuery {
		for i := 0; i < len(query); i++ {
			switch c := query[i]; {
			case c < 0x20 || c == 0x7f:
				return bad("control byte in query")
			case c == '\\': // a normalised key escapes it; a raw one would name a file with a backslash
				return bad("backslash in query")
			}
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(queryDir(query))
	}
	if b.Len() > maxDirLen {
		return bad("path too long")
	}
	if b.Len() == 0 {
		return ".", nil
	}
	return b.String(), nil
}

// queryDir names the directory of a query variant: "@q" + the escaped query,
// or "@h" + 32 hex digits of its SHA-256 when that name would be too long.
func queryDir(query string) string {
	esc := strings.NewReplacer("%", "%25", "/", "%2F").Replace(query)
	if len(esc)+2 <= maxName {
		return "@q" + esc
	}
	sum := sha256.Sum256([]byte(query))
	return "@h" + hex.EncodeToString(sum[:16])
}

// checkName reports why s cannot be a file name, or "" if it can.
func checkName(s string) string {
	switch s {
	case "":
		return "empty"
	case ".", "..":
		return "is a dot name"
	}
	if len(s) > maxName {
		return "too long"
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return "has a control byte"
		case c == '\\':
			return "has a backslash"
		}
	}
	return ""
}

// isReserved reports whether s is one of the file names of a page directory.
func isReserved(s string) bool {
	switch s {
	case fileBody, fileGzip, fileBrotli, fileMeta:
		return true
	}
	return false
}

// filePath joins a page directory and a file name.
func filePath(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// parentDir returns the directory containing dir ("." for top-level names).
func parentDir(dir string) string {
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		return dir[:i]
	}
	return "."
}

// checkTags validates the tags of a page for the tag index.
func checkTags(tags []string) error {
	for _, t := range tags {
		if t == "" || len(t) > maxTagLen || strings.IndexByte(t, 0) >= 0 {
			return fmt.Errorf("%w %.80q", ErrBadTag, t)
		}
	}
	return nil
}
