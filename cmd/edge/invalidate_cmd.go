package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pregen/edge/invalidate"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// invalidateCmd is `edge invalidate`: it sends one message to a running
// edge's admin API and prints the answer ({"marked":N,"unknown":M}).
//
//	edge invalidate [-url U]… [-tag T]… [-prefix P]… [-all] [-hard] [-admin ADDR] [-token T]
//
// The token defaults to EDGE_ADMIN_TOKEN.
func invalidateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("invalidate", stderr)
	var msg invalidate.Message
	fs.Var((*listFlag)(&msg.URLs), "url", "a page `URL` or path to invalidate (repeatable)")
	fs.Var((*listFlag)(&msg.Tags), "tag", "a dependency `tag` (Surrogate-Key, xkey, Cache-Tag) whose pages to invalidate (repeatable)")
	fs.Var((*listFlag)(&msg.Prefixes), "prefix", "a path `prefix` whose pages to invalidate (repeatable)")
	fs.BoolVar(&msg.All, "all", false, "invalidate every stored page")
	fs.BoolVar(&msg.Hard, "hard", false, "delete the pages instead of regenerating them in the background")
	addr := fs.String("admin", "127.0.0.1:9091", "admin listener `address`")
	token := fs.String("token", "", "admin bearer `token` (default $EDGE_ADMIN_TOKEN)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if msg.Empty() {
		return fmt.Errorf("%w: give at least one of -url, -tag, -prefix or -all", errUsage)
	}
	if *token == "" {
		*token = os.Getenv("EDGE_ADMIN_TOKEN")
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	base := *addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/invalidate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("is edge running? %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("invalidate: %s: %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	_, err = stdout.Write(answer)
	return err
}
