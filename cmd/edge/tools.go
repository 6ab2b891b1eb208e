package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pregen/edge/internal/store"
)

// fsckCmd rebuilds the index from the files: files without index entries
// are indexed, entries without files dropped, orphan temp files removed.
// It needs the store to itself (a running server holds the index lock).
func fsckCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fsck", stderr)
	var cf commonFlags
	fs.StringVar(&cf.config, "config", "", "YAML config `file`")
	fs.StringVar(&cf.root, "root", "", "store `directory` (overrides store.root)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	root := cf.root
	if root == "" {
		cfg := DefaultConfig()
		if cf.config != "" {
			var err error
			// fsck needs only store.root; an origin is not required.
			cf.origin = "http://unused.invalid"
			if cfg, err = cf.load(); err != nil {
				return err
			}
		}
		root = cfg.Store.Root
	}
	st, err := store.Open(root, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rep, err := st.Fsck(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fsck %s: scanned %d page directories, indexed %d, dropped %d index entries, removed %d temp files in %s\n",
		root, rep.Scanned, rep.Indexed, rep.Dropped, rep.TempRemoved, time.Since(start).Round(time.Millisecond))
	return nil
}

// statusCmd prints the running server's /status document.
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	addr := fs.String("admin", "127.0.0.1:9091", "admin listener `address`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+"/status", nil)
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("is edge running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status: %s", resp.Status)
	}
	_, err = io.Copy(stdout, resp.Body)
	return err
}
