package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

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
