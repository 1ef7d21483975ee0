package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// newClient returns the HTTP/1.1 client of everything off the measured path
// (preflight, seeding the reads, the server's counts); the load itself goes
// through loadConn. No proxy, no compression, no HTTP/2: the server speaks
// HTTP/1.1.
func newClient(timeout time.Duration) *http.Client {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			Protocols:             protocols,
			MaxIdleConns:          4,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			DisableCompression:    true,
			ResponseHeaderTimeout: timeout,
			ExpectContinueTimeout: 0,
			WriteBufferSize:       32 << 10,
			ReadBufferSize:        32 << 10,
		},
		// A redirect would be a misconfigured target; show it as is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// preflight checks that the target answers and serves every scenario's
// endpoint before any load is sent, so a wrong URL or a server started
// without the bench endpoints fails in a second with a reason rather than
// as a run full of errors.
func preflight(ctx context.Context, client *http.Client, target string, scs []scenario) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("target %s does not answer: %w", target, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("target %s: GET /healthz answered %d, want 200", target, resp.StatusCode)
	}
	for _, sc := range scs {
		if sc.stream != "" {
			// Its listing reads and writes nothing: a 404 says the server
			// runs without the stream.
			if err := probeStream(ctx, client, target, sc); err != nil {
				return err
			}
			continue
		}
		if sc.name == "fire-and-forget" {
			// Its GET only counts: probing it sends nothing to the broker.
			if err := probeCounts(ctx, client, target, sc); err != nil {
				return err
			}
			continue
		}
		if sc.name != "noop" {
			continue // the others write: a probe would leave a post behind
		}
		body := []byte(`{"author":"bench-preflight","title":"preflight","content":"preflight"}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+sc.path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("target %q: %w", target, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("POST %s%s: %w", target, sc.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case sc.want:
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return fmt.Errorf("POST %s answered %d: start the server with POSTPIPE_BENCH_ENDPOINTS=true, or leave %s out of --scenarios", sc.path, resp.StatusCode, sc.name)
		default:
			return fmt.Errorf("POST %s answered %d, want %d", sc.path, resp.StatusCode, sc.want)
		}
	}
	return nil
}

// probeCounts checks that GET on the fire-and-forget endpoint answers.
func probeCounts(ctx context.Context, client *http.Client, target string, sc scenario) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+sc.path, nil)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", target, sc.path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return fmt.Errorf("GET %s answered %d: start the server with POSTPIPE_BENCH_ENDPOINTS=true (and a Kafka publisher), or leave %s out of --scenarios", sc.path, resp.StatusCode, sc.name)
	default:
		return fmt.Errorf("GET %s answered %d, want 200", sc.path, resp.StatusCode)
	}
}

// probeStream checks that the server serves the stream sc writes to, by
// asking for one document of its listing: any answer but 404 or 405 says
// the route is there (a 503 of a busy store too).
func probeStream(ctx context.Context, client *http.Client, target string, sc scenario) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+sc.path+"?limit=1", nil)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", target, sc.path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return fmt.Errorf("GET %s answered %d: the server does not serve the stream %s; start it with a streams file declaring %s (POSTPIPE_STREAMS_FILE, e.g. examples/streams.yaml), or leave %s out of --scenarios",
			sc.path, resp.StatusCode, sc.stream, sc.stream, sc.name)
	}
	return nil
}
