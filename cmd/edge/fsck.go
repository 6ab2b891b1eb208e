package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pregen/edge/internal/store"
	"github.com/valyala/fasthttp"
)

// fsckReport is what `edge fsck` and POST /fsck report.
type fsckReport struct {
	Root         string  `json:"root"`
	Online       bool    `json:"online"` // run inside a serving edge
	Scanned      int     `json:"scanned"`
	Indexed      int     `json:"indexed"`
	Dropped      int     `json:"dropped"`
	TempRemoved  int     `json:"temp_removed"`
	MarksDropped int     `json:"marks_dropped"`
	ServedFixed  int     `json:"served_fixed"`
	Seconds      float64 `json:"seconds"`
}

func newFsckReport(root string, r store.Report, took time.Duration) fsckReport {
	return fsckReport{
		Root: root, Scanned: r.Scanned, Indexed: r.Indexed, Dropped: r.Dropped, TempRemoved: r.TempRemoved,
		MarksDropped: r.MarksDropped, ServedFixed: r.ServedFixed, Seconds: took.Seconds(),
	}
}

func (r fsckReport) String() string {
	how := "offline"
	if r.Online {
		how = "online, inside the running server"
	}
	return fmt.Sprintf("fsck %s (%s): scanned %d page directories, indexed %d, dropped %d index entries, "+
		"removed %d temp files, dropped %d stale marks of missing pages, fixed %d last-served entries in %s\n",
		r.Root, how, r.Scanned, r.Indexed, r.Dropped, r.TempRemoved, r.MarksDropped, r.ServedFixed,
		(time.Duration(r.Seconds * float64(time.Second))).Round(time.Millisecond))
}

// fsckCmd reconciles the files and the index: files without index entries
// are indexed, entries without files dropped, orphan temp files removed,
// last-served times made one per page. Only one process may open a store,
// so when `edge serve` holds it, fsckCmd asks that server to run the fsck
// (POST /fsck on its admin listener, bearer token): online, in small
// batches, without stopping serving.
func fsckCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fsck", stderr)
	var cf commonFlags
	fs.StringVar(&cf.config, "config", "", "YAML config `file`")
	fs.StringVar(&cf.root, "root", "", "store `directory` (overrides store.root)")
	fs.StringVar(&cf.admin, "admin", "", "admin `address` of the server holding the store (overrides admin.listen)")
	token := fs.String("token", "", "admin bearer `token` for an online fsck (default $EDGE_ADMIN_TOKEN, then admin.token)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := DefaultConfig()
	if cf.config != "" {
		// fsck needs only the store and admin settings; an origin is not required.
		cf.origin = "http://unused.invalid"
		var err error
		if cfg, err = cf.load(); err != nil {
			return err
		}
	} else {
		cf.apply(&cfg)
	}
	if *token == "" {
		*token = cfg.Admin.Token // EDGE_ADMIN_TOKEN already applied
	}
	root := cfg.Store.Root
	st, err := store.Open(root, store.Options{})
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "edge fsck: %s is in use by a running edge; asking it to run the fsck (admin %s)\n", root, cfg.Admin.Listen)
		rep, err := fsckOnline(ctx, cfg.Admin.Listen, *token)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, rep.String())
		return err
	}
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	r, err := st.Fsck(ctx)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, newFsckReport(root, r, time.Since(start)).String())
	return err
}

// fsckOnline asks the server at admin to run the fsck and waits for its
// report.
func fsckOnline(ctx context.Context, admin, token string) (fsckReport, error) {
	base := admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/fsck", nil)
	if err != nil {
		return fsckReport{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req) // as long as the fsck takes; ctx (Ctrl-C) ends it
	if err != nil {
		return fsckReport{}, fmt.Errorf("the store is locked but its server does not answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fsckReport{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return fsckReport{}, fmt.Errorf("online fsck: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var rep fsckReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fsckReport{}, fmt.Errorf("online fsck: bad answer: %w", err)
	}
	return rep, nil
}

// serveFsck is POST /fsck: it runs the store's fsck inside the server
// (online: small batches, serving goes on) and answers its report; 409 if
// one is already running, 503 if the server shuts down meanwhile.
func (m *Main) serveFsck(ctx *fasthttp.RequestCtx) {
	if !m.authorized(ctx) {
		return
	}
	if !m.fscking.TryLock() {
		ctx.Error("an fsck is already running\n", fasthttp.StatusConflict)
		return
	}
	defer m.fscking.Unlock()
	start := time.Now()
	r, err := m.store.Fsck(m.runCtx)
	if err != nil {
		m.logger.Warn("online fsck", "err", err)
		status := fasthttp.StatusInternalServerError
		if m.runCtx.Err() != nil {
			status = fasthttp.StatusServiceUnavailable
		}
		ctx.Error(err.Error()+"\n", status)
		return
	}
	rep := newFsckReport(m.Config.Store.Root, r, time.Since(start))
	rep.Online = true
	m.logger.Info("online fsck done", "report", strings.TrimSpace(rep.String()))
	m.writeJSON(ctx, fasthttp.StatusOK, rep)
}
