package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pregen/edge"
)

var sampleRecords = []*record{
	{},
	{
		Status: 200, ContentType: "text/html", ETag: `"abc"`,
		GeneratedAt: time.Date(2026, 5, 1, 12, 0, 0, 999999999, time.UTC),
		Header:      []edge.Field{{Name: "Location", Value: "/x"}, {Name: "Link", Value: "a\nb\x00"}},
		Tags:        []string{"t1", "t2"}, Stale: true, Gzip: true, Brotli: true,
		Size: 1 << 40, GzipSize: 3, BrotliSize: 0, BodyID: fileID{1<<64 - 1, -5}, GzipID: fileID{7, 1 << 62},
	},
	{Status: 308, GeneratedAt: time.Unix(-1e12, 0).UTC(), Size: 5},
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords {
		got, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", r, err)
		}
		want := *r
		want.GeneratedAt = r.GeneratedAt.UTC()
		if r.GeneratedAt.IsZero() && got.GeneratedAt.IsZero() {
			want.GeneratedAt = got.GeneratedAt
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
		}
	}
	for _, bad := range [][]byte{nil, {}, {1}, {2, 0}, {1, 0x80}, append(sampleRecords[1].encode(), 0)} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%x) accepted", bad)
		}
	}
}

func TestSidecarRoundTrip(t *testing.T) {
	r := sampleRecords[1]
	b, err := newSidecar("/k", r).marshal()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseSidecar(b)
	if err != nil || sc.Key != "/k" {
		t.Fatalf("parseSidecar: %v %+v", err, sc)
	}
	got := sc.record()
	got.Stale, got.BodyID, got.GzipID, got.BrotliID = r.Stale, r.BodyID, r.GzipID, r.BrotliID
	if !reflect.DeepEqual(got, r) {
		t.Errorf("sidecar round trip:\n got %+v\nwant %+v", got, r)
	}
	for _, bad := range []string{"", "{}", `{"key":"/k","sizes":{"identity":-1}}`, `[1]`} {
		if _, err := parseSidecar([]byte(bad)); err == nil {
			t.Errorf("parseSidecar(%s) accepted", bad)
		}
	}
}

// FuzzDecodeRecord checks that decoding arbitrary bytes never panics or
// allocates wildly, and that whatever decodes re-encodes to the same record.
// Seeds: every sample record, each of them cut at every length (a torn
// write), with a flipped flags byte, and with a header count far beyond
// what the bytes can hold.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords {
		b := r.encode()
		for n := range len(b) {
			f.Add(b[:n])
		}
		f.Add(append(b, 0))
		flipped := append([]byte(nil), b...)
		flipped[flagsOffset] ^= 0x80
		f.Add(flipped)
	}
	// version, flags, then a status and strings cut short by a huge length.
	f.Add([]byte{recordVersion, 0, 200, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("error %v is not errBadRecord", err)
			}
			return
		}
		// Every header field takes at least two bytes and every tag one:
		// nothing decoded can be larger than the input.
		if 2*len(r.Header)+len(r.Tags) > len(b) || len(r.ContentType)+len(r.ETag) > len(b) {
			t.Fatalf("%d bytes decoded to %d fields, %d tags", len(b), len(r.Header), len(r.Tags))
		}
		if r.Status < 0 || r.Status > 999 || r.Size < 0 || r.GzipSize < 0 || r.BrotliSize < 0 {
			t.Fatalf("accepted out-of-range values: %+v", r)
		}
		r2, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed the record:\n%+v\n%+v", r, r2)
		}
	})
}
