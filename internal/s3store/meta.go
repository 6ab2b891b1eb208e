package s3store

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pregen/edge"
)

// Metadata keys (without the x-amz-meta- prefix; S3 lowercases them).
const (
	metaVersion   = "edge-v"
	metaStatus    = "edge-status"
	metaETag      = "edge-etag"
	metaGenerated = "edge-generated"
	metaTags      = "edge-tags"
	metaHeader    = "edge-header"
	metaVariants  = "edge-variants"
	metaSidecar   = "edge-sidecar"
	metaCType     = "edge-ctype"
)

// maxMeta is the user-metadata budget of index.html; S3 allows 2 KB
// (names and values), the rest is left for a margin.
const maxMeta = 1800

// pageMeta is the metadata of index.html decoded.
type pageMeta struct {
	status      int
	etag        string
	generated   time.Time
	tags        []string
	header      []edge.Field
	gzip, br    int64 // sizes; -1 when absent
	sidecar     bool
	noCType     bool
	contentType string
}

// encodeMeta builds the metadata of index.html. When tags and header do not
// fit, spill is the JSON for index.html.meta and the metadata says so.
func encodeMeta(p *edge.Page) (meta map[string]string, spill []byte, err error) {
	meta = map[string]string{
		metaVersion:   "1",
		metaStatus:    strconv.Itoa(p.Status),
		metaETag:      p.ETag,
		metaGenerated: p.GeneratedAt.UTC().Format(time.RFC3339Nano),
	}
	var v []string
	if p.Gzip != nil {
		v = append(v, "gzip="+strconv.Itoa(len(p.Gzip)))
	}
	if p.Brotli != nil {
		v = append(v, "br="+strconv.Itoa(len(p.Brotli)))
	}
	meta[metaVariants] = strings.Join(v, ",")
	if p.ContentType == "" {
		meta[metaCType] = "none"
	}
	if !isHeaderSafe(p.ETag) {
		return nil, nil, fmt.Errorf("%w: etag %q is not header-safe", ErrBadObject, p.ETag)
	}
	tags := make([]string, len(p.Tags))
	for i, t := range p.Tags {
		tags[i] = url.QueryEscape(t)
	}
	hdr := make([]string, len(p.Header))
	for i, f := range p.Header {
		hdr[i] = url.QueryEscape(f.Name) + "=" + url.QueryEscape(f.Value)
	}
	meta[metaTags] = strings.Join(tags, ",")
	meta[metaHeader] = strings.Join(hdr, "&")
	if metaSize(meta) <= maxMeta {
		return meta, nil, nil
	}
	delete(meta, metaTags)
	delete(meta, metaHeader)
	meta[metaSidecar] = "1"
	spill, err = json.Marshal(sidecarDoc{ETag: p.ETag, Tags: p.Tags, Header: p.Header})
	return meta, spill, err
}

// sidecarDoc is index.html.meta: what did not fit in index.html's metadata.
type sidecarDoc struct {
	ETag   string       `json:"etag"`
	Tags   []string     `json:"tags,omitempty"`
	Header []edge.Field `json:"header,omitempty"`
}

func metaSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len("x-amz-meta-") + len(k) + len(v)
	}
	return n
}

// isHeaderSafe reports whether s can be sent as a header value verbatim.
func isHeaderSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// decodeMeta parses index.html's metadata (keys in any case).
func decodeMeta(raw map[string]string, contentType string) (*pageMeta, error) {
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		m[strings.ToLower(k)] = v
	}
	bad := func(why string) (*pageMeta, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadObject, why)
	}
	if m[metaVersion] != "1" {
		return bad("no edge-v=1 metadata")
	}
	pm := &pageMeta{etag: m[metaETag], gzip: -1, br: -1, sidecar: m[metaSidecar] == "1",
		noCType: m[metaCType] == "none", contentType: contentType}
	if pm.noCType {
		pm.contentType = ""
	}
	var err error
	if pm.status, err = strconv.Atoi(m[metaStatus]); err != nil || pm.status < 100 || pm.status > 999 {
		return bad("edge-status")
	}
	if pm.generated, err = time.Parse(time.RFC3339Nano, m[metaGenerated]); err != nil {
		return bad("edge-generated")
	}
	pm.generated = pm.generated.UTC()
	if s := m[metaVariants]; s != "" {
		for _, v := range strings.Split(s, ",") {
			name, size, _ := strings.Cut(v, "=")
			n, err := strconv.ParseInt(size, 10, 64)
			if err != nil || n < 0 {
				return bad("edge-variants")
			}
			switch name {
			case "gzip":
				pm.gzip = n
			case "br":
				pm.br = n
			default:
				return bad("edge-variants")
			}
		}
	}
	if s := m[metaTags]; s != "" {
		for _, t := range strings.Split(s, ",") {
			u, err := url.QueryUnescape(t)
			if err != nil {
				return bad("edge-tags")
			}
			pm.tags = append(pm.tags, u)
		}
	}
	if s := m[metaHeader]; s != "" {
		for _, f := range strings.Split(s, "&") {
			n, v, _ := strings.Cut(f, "=")
			name, err1 := url.QueryUnescape(n)
			value, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil || name == "" {
				return bad("edge-header")
			}
			pm.header = append(pm.header, edge.Field{Name: name, Value: value})
		}
	}
	return pm, nil
}

// variantMeta is the metadata of a variant or sidecar object: the ETag of
// the page it belongs to.
func variantMeta(etag string) map[string]string {
	return map[string]string{metaVersion: "1", metaETag: etag}
}

// etagOf returns the page ETag a part's metadata names.
func etagOf(raw map[string]string) string {
	for k, v := range raw {
		if strings.EqualFold(k, metaETag) {
			return v
		}
	}
	return ""
}
