package s3store

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge"
)

// BenchmarkLocalHit measures a local-disk hit (the proxy's one-representation
// read, and the whole-page read) with no S3 tier, with S3 up, and with S3
// down (a closed port, after a failed call): the numbers must not depend on
// S3, since a local hit never calls it. S3 "up" is the server named by
// S3_ENDPOINT… when set, else gofakes3.
//
//	go test -run '^$' -bench LocalHit -benchmem ./internal/s3store/
func BenchmarkLocalHit(b *testing.B) {
	up := func(b *testing.B) Remote {
		if _, ok := envConfig(); ok {
			return realS3(b)
		}
		return startFake(b).bucket(b, "")
	}
	down := func(b *testing.B) Remote {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		bk, err := NewBucket(ctx, Config{Bucket: "pages", Endpoint: "http://" + addr, PathStyle: true,
			AccessKeyID: "k", SecretAccessKey: "s", Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return bk
	}
	for _, c := range []struct {
		name   string
		remote func(*testing.B) Remote
	}{{"s3=absent", nil}, {"s3=up", up}, {"s3=down", down}} {
		b.Run(c.name, func(b *testing.B) {
			st := openStore(b, b.TempDir())
			p := testPage("/events/42", strings.Repeat("x", 16<<10), time.Now().UTC())
			if _, err := st.Put(p); err != nil {
				b.Fatal(err)
			}
			type reader interface {
				GetVariant(key string, br, gz bool) (*edge.Page, error)
			}
			var r reader = st
			if c.remote != nil {
				tr, err := New(st, c.remote(b), Options{BackoffMin: time.Hour, BackoffMax: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				if c.name == "s3=down" {
					if _, err := tr.Get("/not/on/disk"); err == nil { // fails and starts the back-off
						b.Fatal("a page from a closed port")
					}
					if !tr.Stats().Down {
						b.Fatal("not backing off after a failed call")
					}
				}
				r = tr
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.GetVariant(p.Key, true, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
