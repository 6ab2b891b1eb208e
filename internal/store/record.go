package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pregen/edge"
)

// record is the index entry of one page: everything needed to serve it
// except the bodies, plus the identity of each of its files (so readers,
// Put and the watcher can tell the indexed files from replacements).
type record struct {
	Status      int
	ContentType string
	ETag        string
	GeneratedAt time.Time
	Header      []edge.Field
	Tags        []string
	Stale       bool
	Gzip        bool
	Brotli      bool
	Size        int64 // identity body
	GzipSize    int64
	BrotliSize  int64
	// Identity of each file as this process last wrote or indexed it. A
	// reader holding a file whose identity (and size) match the record has
	// the version the record describes: files are never written in place.
	BodyID, GzipID, BrotliID fileID

	// served is the page's last-served time (Unix seconds) as lookup found
	// it; never encoded.
	served int64
}

// fileID identifies one file: its inode and modification time (Unix
// nanoseconds). A replacement by rename always has a new inode; an in-place
// rewrite a new mtime.
type fileID struct {
	Ino   uint64
	Mtime int64
}

// pageFile is one body file of a page as its record describes it.
type pageFile struct {
	name    string
	present bool
	size    int64
	id      *fileID
}

// files lists the body files of r, identity first.
func (r *record) files() [3]pageFile {
	return [3]pageFile{
		{fileBody, true, r.Size, &r.BodyID},
		{fileGzip, r.Gzip, r.GzipSize, &r.GzipID},
		{fileBrotli, r.Brotli, r.BrotliSize, &r.BrotliID},
	}
}

// bytes is the disk usage counted in Stats.Bytes: all variants.
func (r *record) bytes() int64 { return r.Size + r.GzipSize + r.BrotliSize }

// Encoding of a record (all integers are varints):
//
//	version=1 | flags | status | contentType | etag | genSec | genNsec |
//	size | gzipSize | brotliSize | 3 × {ino mtime} (body, gzip, brotli) |
//	nHeader {name value} | nTags {tag}
//
// Strings are a length followed by the bytes. flags: 1 stale (legacy: the
// index stores stale marks separately now, writes it as 0 and ignores it on
// reading), 2 gzip, 4 brotli.
const (
	recordVersion = 1
	flagStale     = 1 << 0
	flagGzip      = 1 << 1
	flagBrotli    = 1 << 2
	flagsOffset   = 1
)

var errBadRecord = errors.New("store: corrupt index record")

func (r *record) encode() []byte {
	n := 64 + len(r.ContentType) + len(r.ETag)
	for _, f := range r.Header {
		n += len(f.Name) + len(f.Value) + 4
	}
	for _, t := range r.Tags {
		n += len(t) + 2
	}
	b := make([]byte, 0, n)
	var flags byte
	if r.Stale {
		flags |= flagStale
	}
	if r.Gzip {
		flags |= flagGzip
	}
	if r.Brotli {
		flags |= flagBrotli
	}
	b = append(b, recordVersion, flags)
	b = binary.AppendUvarint(b, uint64(r.Status))
	b = appendString(b, r.ContentType)
	b = appendString(b, r.ETag)
	b = binary.AppendVarint(b, r.GeneratedAt.Unix())
	b = binary.AppendUvarint(b, uint64(r.GeneratedAt.Nanosecond()))
	b = binary.AppendVarint(b, r.Size)
	b = binary.AppendVarint(b, r.GzipSize)
	b = binary.AppendVarint(b, r.BrotliSize)
	for _, id := range []fileID{r.BodyID, r.GzipID, r.BrotliID} {
		b = binary.AppendUvarint(b, id.Ino)
		b = binary.AppendVarint(b, id.Mtime)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Header)))
	for _, f := range r.Header {
		b = appendString(b, f.Name)
		b = appendString(b, f.Value)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Tags)))
	for _, t := range r.Tags {
		b = appendString(b, t)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord parses an encoded record. It never panics and copies
// everything it keeps, so b may be memory owned by a bbolt transaction.
func decodeRecord(b []byte) (*record, error) {
	if len(b) < 2 || b[0] != recordVersion {
		return nil, errBadRecord
	}
	flags := b[flagsOffset]
	d := decoder{b: b[2:]}
	r := &record{
		Stale:  flags&flagStale != 0,
		Gzip:   flags&flagGzip != 0,
		Brotli: flags&flagBrotli != 0,
	}
	status := d.uvarint()
	r.ContentType = d.string()
	r.ETag = d.string()
	sec := d.varint()
	nsec := d.uvarint()
	r.Size = d.varint()
	r.GzipSize = d.varint()
	r.BrotliSize = d.varint()
	for _, id := range []*fileID{&r.BodyID, &r.GzipID, &r.BrotliID} {
		id.Ino = d.uvarint()
		id.Mtime = d.varint()
	}
	if nh := d.count(2); nh > 0 {
		r.Header = make([]edge.Field, nh)
		for i := range r.Header {
			r.Header[i] = edge.Field{Name: d.string(), Value: d.string()}
		}
	}
	if nt := d.count(1); nt > 0 {
		r.Tags = make([]string, nt)
		for i := range r.Tags {
			r.Tags[i] = d.string()
		}
	}
	if d.err || len(d.b) != 0 || status > 999 || nsec >= 1e9 ||
		r.Size < 0 || r.GzipSize < 0 || r.BrotliSize < 0 || flags&^(flagStale|flagGzip|flagBrotli) != 0 {
		return nil, errBadRecord
	}
	r.Status = int(status)
	r.GeneratedAt = time.Unix(sec, int64(nsec)).UTC()
	return r, nil
}

// decoder reads varints and strings, remembering the first error.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads an element count, rejecting counts the remaining bytes cannot
// hold (each element takes at least min bytes) so a corrupt record cannot
// make the decoder allocate unboundedly.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.err, d.b = true, nil
		return 0
	}
	return int(n)
}

// sidecar is the JSON document stored as index.html.meta beside a page. It
// is the commit record of a page directory: written last, trusted by Fsck
// and by the watcher.
type sidecar struct {
	Key         string         `json:"key"`
	Status      int            `json:"status"`
	ContentType string         `json:"content_type"`
	Header      []sidecarField `json:"header,omitempty"`
	ETag        string         `json:"etag"`
	GeneratedAt time.Time      `json:"generated_at"`
	Tags        []string       `json:"tags,omitempty"`
	Sizes       sidecarSizes   `json:"sizes"`
}

type sidecarField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type sidecarSizes struct {
	Identity int64  `json:"identity"`
	Gzip     *int64 `json:"gzip,omitempty"`
	Brotli   *int64 `json:"br,omitempty"`
}

func newSidecar(key string, r *record) *sidecar {
	sc := &sidecar{
		Key:         key,
		Status:      r.Status,
		ContentType: r.ContentType,
		ETag:        r.ETag,
		GeneratedAt: r.GeneratedAt.UTC(),
		Tags:        r.Tags,
		Sizes:       sidecarSizes{Identity: r.Size},
	}
	for _, f := range r.Header {
		sc.Header = append(sc.Header, sidecarField(f))
	}
	if r.Gzip {
		sc.Sizes.Gzip = &r.GzipSize
	}
	if r.Brotli {
		sc.Sizes.Brotli = &r.BrotliSize
	}
	return sc
}

func (sc *sidecar) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseSidecar decodes and sanity-checks a sidecar.
func parseSidecar(b []byte) (*sidecar, error) {
	sc := new(sidecar)
	if err := json.Unmarshal(b, sc); err != nil {
		return nil, fmt.Errorf("store: sidecar: %w", err)
	}
	neg := sc.Sizes.Identity < 0 || (sc.Sizes.Gzip != nil && *sc.Sizes.Gzip < 0) ||
		(sc.Sizes.Brotli != nil && *sc.Sizes.Brotli < 0)
	if sc.Key == "" || neg || sc.Status < 0 || sc.Status > 999 {
		return nil, errors.New("store: sidecar: missing key or bad sizes")
	}
	return sc, nil
}

// record converts a sidecar to an index record (without file identity).
func (sc *sidecar) record() *record {
	r := &record{
		Status:      sc.Status,
		ContentType: sc.ContentType,
		ETag:        sc.ETag,
		GeneratedAt: sc.GeneratedAt.UTC(),
		Tags:        sc.Tags,
		Size:        sc.Sizes.Identity,
	}
	for _, f := range sc.Header {
		r.Header = append(r.Header, edge.Field(f))
	}
	if sc.Sizes.Gzip != nil {
		r.Gzip, r.GzipSize = true, *sc.Sizes.Gzip
	}
	if sc.Sizes.Brotli != nil {
		r.Brotli, r.BrotliSize = true, *sc.Sizes.Brotli
	}
	return r
}

// meta converts a record to the exported Meta.
func (r *record) meta(key string) Meta {
	return Meta{
		Key:         key,
		ContentType: r.ContentType,
		ETag:        r.ETag,
		Status:      r.Status,
		Size:        r.Size,
		Bytes:       r.bytes(),
		GeneratedAt: r.GeneratedAt,
		Tags:        r.Tags,
		Stale:       r.Stale,
		Gzip:        r.Gzip,
		Brotli:      r.Brotli,
	}
}
