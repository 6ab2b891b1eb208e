package demo

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-listen", "127.0.0.1:0", "-pages", "1000", "-latency", "0", "-workers", "2"}, pw)
		pw.Close()
	}()

	addrs := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`addr=(\S+)`)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrs <- m[1]:
				default:
				}
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("Main returned early: %v", err)
	}

	status, body, err := fasthttp.GetTimeout(nil, "http://"+addr+"/events/3", 5*time.Second)
	if err != nil || status != 200 || !strings.Contains(string(body), "</html>") {
		t.Fatalf("GET /events/3: %d, %v", status, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Main after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Main did not return after its context was cancelled")
	}
}

func TestMainErrors(t *testing.T) {
	for _, c := range []struct {
		args  []string
		usage bool
	}{
		{[]string{"-nope"}, true},
		{[]string{"-pages", "x"}, true},
		{[]string{"-pages", "2"}, true},
		{[]string{"-workers", "0"}, true},
		{[]string{"-latency", "-1s"}, true},
		{[]string{"extra"}, true},
		{[]string{"-listen", "127.0.0.1:-1"}, false},
	} {
		var stderr strings.Builder
		err := Main(context.Background(), c.args, &stderr)
		if err == nil {
			t.Errorf("Main(%q) = nil", c.args)
			continue
		}
		if errors.Is(err, ErrUsage) != c.usage {
			t.Errorf("Main(%q) = %v; usage error: %v, want %v", c.args, err, !c.usage, c.usage)
		}
		if c.usage && !strings.Contains(stderr.String(), "-listen address") {
			t.Errorf("Main(%q) printed no usage: %q", c.args, stderr.String())
		}
	}
	if err := Main(context.Background(), []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) || !errors.Is(err, ErrUsage) {
		t.Errorf("Main(-h) = %v, want ErrUsage and flag.ErrHelp", err)
	}
}
