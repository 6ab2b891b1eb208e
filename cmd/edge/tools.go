package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// statusCmd prints a summary of the running server's /status document
// (with -json, the document itself).
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	addr := fs.String("admin", "127.0.0.1:9091", "admin listener `address`")
	raw := fs.Bool("json", false, "print the /status JSON document as it is")
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
	if *raw {
		_, err = io.Copy(stdout, resp.Body)
		return err
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("status: reading the document: %w", err)
	}
	printStatus(stdout, st, time.Now())
	return nil
}
