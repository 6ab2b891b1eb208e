package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/natsq"
)

// enqueuer is gen.Bulk's Maker for edge gen -enqueue: instead of making a
// page it publishes the page's key as a bulk job, with a message id of the
// run and the key, so that the same run published again within the dedup
// window adds nothing. A duplicate counts as Unchanged.
type enqueuer struct {
	client *natsq.Client
	run    string
}

var emptyPage = (&edge.Page{}).Finish()

func (e enqueuer) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) {
	dup, err := e.client.Enqueue(ctx, natsq.KindBulk, f.Key, natsq.MsgID(e.run, f.Key))
	if err != nil {
		return edge.Result{}, err
	}
	return edge.Result{Page: emptyPage, Cacheable: true, Changed: !dup}, nil
}

// genEnqueue is edge gen -enqueue: the source is read and every entry
// normalised, refused or sharded exactly as a local run would, and each
// page's key is published on the work queue for edge worker (or edge serve
// with nats.work) to make. -fresh makes the run's ids new, so pages
// enqueued moments ago are enqueued again; -since is not used (the
// workers' stores decide nothing here).
func genEnqueue(ctx context.Context, cfg Config, keys *cachekey.Normalizer, o *genOptions, stdin io.Reader,
	stdout, stderr io.Writer, logger *slog.Logger) error {
	if o.natsURL != "" {
		cfg.NATS.URL = o.natsURL
	}
	if cfg.NATS.URL == "" {
		return fmt.Errorf("%w: gen -enqueue: %v", errUsage, errNoNATS)
	}
	client, err := connectNATS(cfg, "edge gen -enqueue", logger)
	if err != nil {
		return err
	}
	defer client.Close()
	run := o.runID()
	if o.fresh {
		run += "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	src, closeSrc, err := genSource(ctx, cfg, keys, o, stdin)
	if err != nil {
		return err
	}
	defer closeSrc()
	failures := &appendFile{path: o.failures}
	defer failures.Close()
	b := &gen.Bulk{
		Maker: enqueuer{client: client, run: run}, Keys: keys, Source: src, BypassPaths: cfg.Cache.BypassPaths,
		Shard: o.shard, Shards: o.shards, Priority: edge.PriorityBulk,
		Concurrency: 16, Rate: o.rate, GiveUpAfter: genGiveUpAfter, Failures: failures,
	}
	sum, runErr := runReported(ctx, b, cfg, keys, o, stderr, logger)
	state := "done"
	if runErr != nil {
		state = "stopped"
	}
	fmt.Fprintf(stdout, "edge gen -enqueue %s: %d entries in %s\n  enqueued %d  already queued %d  failed %d  refused %d",
		state, sum.Done(), sum.Elapsed.Round(time.Millisecond), sum.OK, sum.Unchanged, sum.Failed, sum.Refused)
	if sum.OtherShard > 0 {
		fmt.Fprintf(stdout, "  other shards %d", sum.OtherShard)
	}
	if sum.SourceErrors > 0 {
		fmt.Fprintf(stdout, "  sitemap/list errors %d", sum.SourceErrors)
	}
	fmt.Fprintln(stdout)
	if n := failures.lines(); n > 0 {
		fmt.Fprintf(stdout, "  %d URLs not enqueued appended to %s (retry: edge gen -enqueue -urls %s)\n", n, o.failures, o.failures)
	}
	return genVerdict(sum, runErr, o)
}
