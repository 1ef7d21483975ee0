package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/postpipe/postpipe/internal/config"
)

// runProbe is 'postpipe probe URL': it succeeds when URL answers 2xx in
// time. The container image has no shell and no curl, so its health checks
// run this.
func runProbe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("postpipe probe", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "longest wait for the answer")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: postpipe probe [--timeout 3s] URL\n\nExits 0 when URL answers 2xx, 1 otherwise (a container health check).\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, "probe", args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return config.Usagef("probe", "probe: want exactly one URL")
	}
	url := fs.Arg(0)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe %s: %s", url, resp.Status)
	}
	return nil
}
