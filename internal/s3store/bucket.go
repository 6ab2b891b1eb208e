package s3store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/store"
)

// Config says where the bucket is and how to reach it. The zero value of
// each optional field is the default written beside it.
type Config struct {
	// Bucket is the bucket name. Required.
	Bucket string
	// Prefix is prepended to every object key ("site/" gives
	// "site/events/42/index.html"); a trailing "/" is added when missing.
	// Default "" (the bucket root).
	Prefix string
	// Region of the bucket. Default: from the standard AWS configuration,
	// or "us-east-1" with explicit credentials.
	Region string
	// Endpoint is the base URL of an S3-compatible store
	// ("http://127.0.0.1:7070"). Default: AWS's endpoint for the region.
	Endpoint string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key (most S3-compatible stores need it).
	PathStyle bool
	// AccessKeyID and SecretAccessKey (and SessionToken, optional) are
	// static credentials. Default: the standard AWS chain (environment,
	// shared config and credentials files, IAM role).
	AccessKeyID, SecretAccessKey, SessionToken string
	// Timeout bounds each S3 operation of a page (all its objects). Default 5s.
	Timeout time.Duration
}

// Bucket holds pages as S3 objects (see the package documentation for the
// layout). It is safe for concurrent use.
type Bucket struct {
	client  *s3.Client
	bucket  string
	prefix  string
	timeout time.Duration
}

// NewBucket builds the S3 client. With static credentials it needs nothing
// from the environment; otherwise it loads the standard AWS configuration.
// It does not contact S3.
func NewBucket(ctx context.Context, c Config) (*Bucket, error) {
	if c.Bucket == "" {
		return nil, errors.New("s3store: bucket name required")
	}
	tune := func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		// Plain-HTTP endpoints and S3-compatible stores: checksums only
		// where the API requires them.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// Failed writes are retried by Tiered's durable list and failed
		// reads fall through to the origin: no hidden retries here.
		o.Retryer = aws.NopRetryer{}
	}
	var client *s3.Client
	if c.AccessKeyID != "" {
		region := c.Region
		if region == "" {
			region = "us-east-1"
		}
		o := s3.Options{
			Region:      region,
			Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		}
		tune(&o)
		client = s3.New(o)
	} else {
		var opts []func(*awsconfig.LoadOptions) error
		if c.Region != "" {
			opts = append(opts, awsconfig.WithRegion(c.Region))
		}
		ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("s3store: aws config: %w", err)
		}
		client = s3.NewFromConfig(ac, tune)
	}
	prefix := strings.TrimLeft(c.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Bucket{client: client, bucket: c.Bucket, prefix: prefix, timeout: timeout}, nil
}

// Client returns the underlying S3 client (tests and tools use it).
func (b *Bucket) Client() *s3.Client { return b.client }

// ObjectKey returns the object key of one file of key's page, e.g.
// ObjectKey("/events/42", "index.html") = prefix + "events/42/index.html".
func (b *Bucket) ObjectKey(key, file string) (string, error) {
	dir, err := store.PageDir(key)
	if err != nil {
		return "", fmt.Errorf("s3store: %w", err)
	}
	if dir == "." {
		return b.prefix + file, nil
	}
	return b.prefix + dir + "/" + file, nil
}

type objectKeys struct{ body, gzip, br, meta string }

func (b *Bucket) keys(key string) (objectKeys, error) {
	body, err := b.ObjectKey(key, store.BodyFile)
	if err != nil {
		return objectKeys{}, err
	}
	base := strings.TrimSuffix(body, store.BodyFile)
	return objectKeys{body, base + store.GzipFile, base + store.BrotliFile, base + store.MetaFile}, nil
}

// Put writes p: its variants, the metadata sidecar when needed, then
// index.html with the metadata (the commit record). When onlyIfNewer is
// set, a stored page generated at or after p.GeneratedAt is left alone and
// written is false.
func (b *Bucket) Put(ctx context.Context, p *edge.Page, onlyIfNewer bool) (written bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ok, err := b.keys(p.Key)
	if err != nil {
		return false, err
	}
	if onlyIfNewer {
		gen, err := b.generated(ctx, ok.body)
		if err != nil {
			return false, fmt.Errorf("s3store: put %q: %w", p.Key, err)
		}
		if !gen.IsZero() && !gen.Before(p.GeneratedAt) {
			return false, nil
		}
	}
	meta, spill, err := encodeMeta(p)
	if err != nil {
		return false, fmt.Errorf("s3store: put %q: %w", p.Key, err)
	}
	parts := []struct {
		key  string
		data []byte
	}{{ok.gzip, p.Gzip}, {ok.br, p.Brotli}, {ok.meta, spill}}
	for _, part := range parts {
		if part.data == nil {
			continue
		}
		if err := b.putObject(ctx, part.key, part.data, p.ContentType, variantMeta(p.ETag)); err != nil {
			return false, fmt.Errorf("s3store: put %q: %w", p.Key, err)
		}
	}
	if err := b.putObject(ctx, ok.body, p.Body, p.ContentType, meta); err != nil {
		return false, fmt.Errorf("s3store: put %q: %w", p.Key, err)
	}
	return true, nil
}

func (b *Bucket) putObject(ctx context.Context, key string, data []byte, ctype string, meta map[string]string) error {
	in := &s3.PutObjectInput{
		Bucket: &b.bucket, Key: &key, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), Metadata: meta,
	}
	if ctype != "" {
		in.ContentType = &ctype
	}
	_, err := b.client.PutObject(ctx, in)
	return err
}

// generated returns the generated_at of the stored page at object key
// body, or the zero time when there is none.
func (b *Bucket) generated(ctx context.Context, body string) (time.Time, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &body})
	if isNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	pm, err := decodeMeta(out.Metadata, aws.ToString(out.ContentType))
	if err != nil {
		return time.Time{}, nil // not ours or damaged: replace it
	}
	return pm.generated, nil
}

// Get reads key's page. It returns an error wrapping edge.ErrNotFound when
// there is none, and ErrBadObject when index.html is not a page this
// package wrote. A variant whose object does not match index.html (being
// replaced by a concurrent writer) makes Get read again; after three tries
// the page is returned without that variant.
func (b *Bucket) Get(ctx context.Context, key string) (*edge.Page, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ok, err := b.keys(key)
	if err != nil {
		return nil, err
	}
	const tries = 3
	for try := 1; ; try++ {
		p, consistent, err := b.getOnce(ctx, key, ok, try == tries)
		if err != nil {
			return nil, fmt.Errorf("s3store: get %q: %w", key, err)
		}
		if consistent || try == tries {
			return p.Finish(), nil
		}
	}
}

// getOnce reads index.html and the parts it names; consistent is false
// when a part belongs to another version (with lenient, such parts are
// dropped instead).
func (b *Bucket) getOnce(ctx context.Context, key string, ok objectKeys, lenient bool) (p *edge.Page, consistent bool, err error) {
	body, raw, ctype, err := b.getObject(ctx, ok.body)
	if err != nil {
		return nil, false, err
	}
	pm, err := decodeMeta(raw, ctype)
	if err != nil {
		return nil, false, err
	}
	p = &edge.Page{
		Key: key, Status: pm.status, ContentType: pm.contentType, Header: pm.header, Body: body,
		ETag: pm.etag, GeneratedAt: pm.generated, Tags: pm.tags,
	}
	if pm.sidecar {
		data, raw, _, err := b.getObject(ctx, ok.meta)
		if err != nil && !errors.Is(err, edge.ErrNotFound) {
			return nil, false, err
		}
		var sc sidecarDoc
		if err != nil || etagOf(raw) != pm.etag || json.Unmarshal(data, &sc) != nil || sc.ETag != pm.etag {
			if lenient {
				return nil, false, fmt.Errorf("%w: index.html.meta does not match index.html", ErrBadObject)
			}
			return nil, false, nil
		}
		p.Tags, p.Header = sc.Tags, sc.Header
	}
	consistent = true
	for _, v := range []struct {
		key  string
		size int64
		dst  *[]byte
	}{{ok.gzip, pm.gzip, &p.Gzip}, {ok.br, pm.br, &p.Brotli}} {
		if v.size < 0 {
			continue
		}
		data, raw, _, err := b.getObject(ctx, v.key)
		if err != nil && !errors.Is(err, edge.ErrNotFound) {
			return nil, false, err
		}
		if err != nil || etagOf(raw) != pm.etag || int64(len(data)) != v.size {
			if !lenient {
				return nil, false, nil
			}
			consistent = false
			continue
		}
		*v.dst = data
	}
	return p, consistent, nil
}

// getObject reads one object whole.
func (b *Bucket) getObject(ctx context.Context, key string) (data []byte, meta map[string]string, ctype string, err error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if isNotFound(err) {
		return nil, nil, "", fmt.Errorf("%s: %w", key, edge.ErrNotFound)
	}
	if err != nil {
		return nil, nil, "", err
	}
	defer out.Body.Close()
	n := aws.ToInt64(out.ContentLength)
	if n < 0 || n > 1<<30 {
		n = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if _, err := io.Copy(buf, out.Body); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", key, err)
	}
	return buf.Bytes(), out.Metadata, aws.ToString(out.ContentType), nil
}

// GetVariant reads one representation of key's page: its bytes and the
// page's ETag. An absent variant (or one being replaced) is reported as
// edge.ErrNotFound; use Get for the whole page.
func (b *Bucket) GetVariant(ctx context.Context, key string, e edge.Encoding) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ok, err := b.keys(key)
	if err != nil {
		return nil, "", err
	}
	body, raw, ctype, err := b.getObject(ctx, ok.body)
	if err != nil {
		return nil, "", fmt.Errorf("s3store: get %q: %w", key, err)
	}
	pm, err := decodeMeta(raw, ctype)
	if err != nil {
		return nil, "", fmt.Errorf("s3store: get %q: %w", key, err)
	}
	name, size := "", int64(-1)
	switch e {
	case edge.Identity:
		return body, pm.etag, nil
	case edge.Gzip:
		name, size = ok.gzip, pm.gzip
	case edge.Brotli:
		name, size = ok.br, pm.br
	}
	if size < 0 {
		return nil, "", fmt.Errorf("s3store: get %q: no such variant: %w", key, edge.ErrNotFound)
	}
	data, raw, _, err := b.getObject(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("s3store: get %q: %w", key, err)
	}
	if etagOf(raw) != pm.etag || int64(len(data)) != size {
		return nil, "", fmt.Errorf("s3store: get %q: variant being replaced: %w", key, edge.ErrNotFound)
	}
	return data, pm.etag, nil
}

// Delete removes key's page: index.html first (so readers stop seeing the
// page), then its other parts. When before is not zero, a stored page
// generated at or after it is left alone. An absent page is not an error.
func (b *Bucket) Delete(ctx context.Context, key string, before time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ok, err := b.keys(key)
	if err != nil {
		return err
	}
	if !before.IsZero() {
		gen, err := b.generated(ctx, ok.body)
		if err != nil {
			return fmt.Errorf("s3store: delete %q: %w", key, err)
		}
		if gen.IsZero() || !gen.Before(before) {
			return nil // absent, or newer than the delete
		}
	}
	for _, k := range []string{ok.body, ok.gzip, ok.br, ok.meta} {
		if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &k}); err != nil && !isNotFound(err) {
			return fmt.Errorf("s3store: delete %q: %w", key, err)
		}
	}
	return nil
}

// isNotFound reports whether err is S3's "no such key" (404).
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		var ae smithy.APIError
		// A missing bucket is a configuration error, not a missing page.
		return !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchBucket"
	}
	return false
}
