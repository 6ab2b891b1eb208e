// Command edge serves pre-generated static pages in front of a slow dynamic
// origin, generating each page on its first request and keeping it fresh.
//
// Subcommands: serve (default), gen, worker, fsck, status, demo-origin, version. Run
// "edge help" for usage. This package is the only one that knows every
// concrete type; it reads the config, builds the tiers and runs them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pregen/edge/internal/demo"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `edge: serve pre-generated pages in front of a dynamic origin

usage:
  edge serve [-config FILE] [-listen ADDR] [-origin URL] [-root DIR] [-admin ADDR]
  edge gen   (-sitemap URL|FILE | -urls FILE|-) [-config FILE] [-origin URL] [-root DIR]
             [-concurrency N] [-rate R] [-since D] [-shard i/n] [-max-failures N]
                                             pre-generate a whole site (resumable, sharded)
  edge gen -enqueue (-sitemap URL|FILE | -urls FILE|-) [-config FILE] [-nats URL] [-fresh]
                                             publish a site's pages on the cluster's work queue
  edge worker [-config FILE] [-nats URL] [-root DIR] [-concurrency N] [-until-empty]
                                             make pages from the cluster's work queue
  edge fsck  [-config FILE] [-root DIR] [-admin ADDR] [-token T]
                                             reconcile files and index (inside the running server if one holds the store)
  edge status [-admin ADDR]                  print the running server's /status
  edge invalidate [-url U]… [-tag T]… [-prefix P]… [-all] [-hard] [-admin ADDR] [-token T]
                                             mark pages stale (regenerated in the background) or delete them
  edge demo-origin [-listen ADDR] [-pages N] [-latency D] [-workers N]
  edge version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// exitUsage is the exit status for bad flags or a bad config file.
const exitUsage = 2

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, args, stderr)
	case "gen":
		err = genCmd(ctx, args, stdout, stderr)
	case "worker":
		err = workerCmd(ctx, args, stdout, stderr)
	case "fsck":
		err = fsckCmd(ctx, args, stdout, stderr)
	case "status":
		err = statusCmd(ctx, args, stdout, stderr)
	case "invalidate":
		err = invalidateCmd(ctx, args, stdout, stderr)
	case "demo-origin":
		err = demo.Main(ctx, args, stderr)
	case "version":
		fmt.Fprintln(stdout, "edge", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "edge: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	var ce *ConfigError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ce), errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "edge:", err)
		return exitUsage
	}
	fmt.Fprintln(stderr, "edge:", err)
	return 1
}

var errUsage = errors.New("usage")

// commonFlags are the flags shared by serve and fsck: they override the
// config file.
type commonFlags struct {
	config, listen, origin, root, admin string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config `file` (defaults are built in)")
	fs.StringVar(&c.listen, "listen", "", "public listen `address` (overrides listen)")
	fs.StringVar(&c.origin, "origin", "", "origin `URL` (overrides origin.url)")
	fs.StringVar(&c.root, "root", "", "store `directory` (overrides store.root)")
	fs.StringVar(&c.admin, "admin", "", "admin listen `address` (overrides admin.listen)")
}

// load reads the config file (if any), applies the flags and the
// environment, and validates the result.
func (c *commonFlags) load() (Config, error) {
	cfg := DefaultConfig()
	var err error
	if c.config != "" {
		if cfg, err = LoadConfig(c.config); err != nil && c.origin == "" {
			return Config{}, err
		} else if err != nil {
			// The file may lack origin.url because -origin supplies it.
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != "origin.url" {
				return Config{}, err
			}
		}
	}
	c.apply(&cfg)
	name := c.config
	if name == "" {
		name = "flags"
	}
	return cfg, cfg.Validate(name, nil)
}

func (c *commonFlags) apply(cfg *Config) {
	if c.listen != "" {
		cfg.Listen = c.listen
	}
	if c.origin != "" {
		cfg.Origin.URL = c.origin
	}
	if c.root != "" {
		cfg.Store.Root = c.root
	}
	if c.admin != "" {
		cfg.Admin.Listen = c.admin
	}
	if t := os.Getenv("EDGE_ADMIN_TOKEN"); t != "" {
		cfg.Admin.Token = t
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var cf commonFlags
	cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, ConfigPath: cf.config, flags: cf, LogOutput: stderr}
	return m.Run(ctx)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown level %q (debug, info, warn, error)", s)
	}
	return l, nil
}
