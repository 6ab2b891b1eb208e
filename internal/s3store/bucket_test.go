package s3store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pregen/edge"
)

var ctx = context.Background()

func listKeys(t *testing.T, b *Bucket) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.Client(), &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, strings.TrimPrefix(*o.Key, b.prefix))
		}
	}
	sort.Strings(keys)
	return keys
}

// roundTrip is the put/get/delete contract, run on gofakes3 and on versitygw.
func roundTrip(t *testing.T, b *Bucket) {
	gen := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	pages := []*edge.Page{
		testPage("/", "home page", gen),
		testPage("/events/42", "event 42", gen),
		testPage("/events/42/", "event 42 slash", gen),
		testPage("/events?page=2", "events page 2", gen),
		testPage("/@team/index.html", "team", gen),
	}
	plain := testPage("/plain", "no variants", gen)
	plain.Gzip, plain.Brotli, plain.ContentType, plain.Tags, plain.Header = nil, nil, "", nil, nil
	plain.Status = 301
	pages = append(pages, plain.Finish())
	for _, p := range pages {
		if ok, err := b.Put(ctx, p, false); err != nil || !ok {
			t.Fatalf("put %s: %v %v", p.Key, ok, err)
		}
	}
	want := []string{
		"%40team/%69ndex.html/index.html", "%40team/%69ndex.html/index.html.br", "%40team/%69ndex.html/index.html.gz",
		"events/42/@/index.html", "events/42/@/index.html.br", "events/42/@/index.html.gz",
		"events/42/index.html", "events/42/index.html.br", "events/42/index.html.gz",
		"events/@qpage=2/index.html", "events/@qpage=2/index.html.br", "events/@qpage=2/index.html.gz",
		"index.html", "index.html.br", "index.html.gz",
		"plain/index.html",
	}
	if got := listKeys(t, b); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("object keys mirror the disk tree:\n got %q\nwant %q", got, want)
	}
	for _, p := range pages {
		got, err := b.Get(ctx, p.Key)
		if err != nil {
			t.Fatalf("get %s: %v", p.Key, err)
		}
		samePage(t, got, p)
	}
	for _, e := range []edge.Encoding{edge.Identity, edge.Gzip, edge.Brotli} {
		body, etag, err := b.GetVariant(ctx, "/events/42", e)
		wantBody, _, _ := pages[1].Variant(e)
		if err != nil || string(body) != string(wantBody) || etag != pages[1].ETag {
			t.Fatalf("variant %d: %q %q %v", e, body, etag, err)
		}
	}
	if _, _, err := b.GetVariant(ctx, "/plain", edge.Gzip); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("absent variant: %v", err)
	}
	if _, err := b.Get(ctx, "/nothing/here"); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("absent page: %v", err)
	}
	for _, p := range pages {
		if err := b.Delete(ctx, p.Key, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, p.Key); !errors.Is(err, edge.ErrNotFound) {
			t.Fatalf("deleted %s: %v", p.Key, err)
		}
	}
	if got := listKeys(t, b); len(got) != 0 {
		t.Fatalf("left after delete: %q", got)
	}
	if err := b.Delete(ctx, "/never", time.Time{}); err != nil {
		t.Fatalf("deleting an absent page: %v", err)
	}
}

func TestBucketRoundTrip(t *testing.T) {
	roundTrip(t, startFake(t).bucket(t, "site"))
}

func TestBucketMetadataSpillsToSidecar(t *testing.T) {
	b := startFake(t).bucket(t, "")
	p := testPage("/many/tags", "body of a page with many tags", time.Now().UTC())
	for i := range 300 {
		p.Tags = append(p.Tags, fmt.Sprintf("tag:%04d", i))
	}
	if _, err := b.Put(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, b); !strings.Contains(strings.Join(got, " "), "many/tags/index.html.meta") {
		t.Fatalf("no sidecar object: %q", got)
	}
	got, err := b.Get(ctx, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	samePage(t, got, p)
}

// A variant object of another version (a concurrent writer between its
// variants and its index.html) is never served with this version's body.
func TestBucketMismatchedVariantIsDropped(t *testing.T) {
	b := startFake(t).bucket(t, "")
	gen := time.Now().UTC()
	v1 := testPage("/a", "version one", gen)
	v2 := testPage("/a", "version two!", gen.Add(time.Second))
	if _, err := b.Put(ctx, v1, false); err != nil {
		t.Fatal(err)
	}
	k, _ := b.ObjectKey("/a", "index.html.gz")
	if err := b.putObject(ctx, k, v2.Gzip, v2.ContentType, variantMeta(v2.ETag)); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != string(v1.Body) || got.Gzip != nil || string(got.Brotli) != string(v1.Brotli) {
		t.Fatalf("got body %q gzip %q brotli %q", got.Body, got.Gzip, got.Brotli)
	}
	if _, _, err := b.GetVariant(ctx, "/a", edge.Gzip); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("mismatched variant: %v", err)
	}
}

func TestBucketConditionalWrites(t *testing.T) {
	b := startFake(t).bucket(t, "")
	gen := time.Now().UTC().Truncate(time.Millisecond)
	newer := testPage("/c", "newer", gen.Add(time.Minute))
	older := testPage("/c", "older", gen)
	if _, err := b.Put(ctx, newer, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Put(ctx, older, true); err != nil || ok {
		t.Fatalf("older page written over a newer one: %v %v", ok, err)
	}
	if got, _ := b.Get(ctx, "/c"); string(got.Body) != "newer" {
		t.Fatalf("body %q", got.Body)
	}
	if err := b.Delete(ctx, "/c", gen); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "/c"); err != nil {
		t.Fatalf("a deletion older than the page removed it: %v", err)
	}
	if err := b.Delete(ctx, "/c", gen.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "/c"); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("after a newer deletion: %v", err)
	}
}

func TestBucketRefusesForeignObjectsAndBadKeys(t *testing.T) {
	b := startFake(t).bucket(t, "")
	k, _ := b.ObjectKey("/foreign", "index.html")
	if err := b.putObject(ctx, k, []byte("hello"), "text/plain", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "/foreign"); !errors.Is(err, ErrBadObject) {
		t.Fatalf("foreign object: %v", err)
	}
	if _, err := b.Get(ctx, "/a/../b"); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestBucketRoundTripVersitygw(t *testing.T) {
	roundTrip(t, realS3(t))
}

func TestBucketMetadataSpillsToSidecarVersitygw(t *testing.T) {
	b := realS3(t)
	p := testPage("/many/tags", "body of a page with many tags", time.Now().UTC())
	for i := range 300 {
		p.Tags = append(p.Tags, fmt.Sprintf("tag:%04d", i))
	}
	if _, err := b.Put(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	samePage(t, got, p)
}
