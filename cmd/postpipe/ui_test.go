package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium or Chrome binary. Without one the browser test
// is skipped, unless POSTPIPE_TEST_UI=1 (make test-ui) asks for it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("POSTPIPE_TEST_UI") == "1" {
		t.Fatal("POSTPIPE_TEST_UI=1 but no chromium binary is on PATH (make test-ui installs Debian's chromium)")
	}
	t.Skip("no chromium binary: the dashboard's browser test needs one (make test-ui)")
	return ""
}

// num is a JavaScript expression for the number an element shows, without
// its thousands separators.
func num(sel string) string {
	return fmt.Sprintf(`Number(document.querySelector(%q).textContent.replaceAll(",", ""))`, sel)
}

// TestDashboardInBrowser opens the dashboard of a real pipeline ('postpipe
// run' on the embedded broker and store) in headless Chromium and watches
// its figures follow the posts sent to the API and through its own form.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromium(t)
	addr := freeAddr(t)
	base := "http://" + addr
	start(t, "run", map[string]string{"POSTPIPE_DATA_DIR": t.TempDir(), "POSTPIPE_HTTP_ADDR": addr})
	waitReady(t, base)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests may run as root, which Chromium's sandbox refuses
		chromedp.WindowSize(1280, 1100),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	// No timeout on this context: it owns the browser. Each wait below has
	// its own.
	ctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)

	// Any script error, and any error the browser logs (a failed request,
	// a Content-Security-Policy violation), fails the test.
	var (
		mu       sync.Mutex
		problems []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The invalid post below is refused on purpose; the browser
			// logs its 422 as a failed request.
			deliberate := strings.Contains(m.Text, "status of 422")
			if (m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError) && !deliberate {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("the browser reported: %s", p)
		}
	})

	// waitJS polls a JavaScript condition on the page.
	waitJS := func(what, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, cond, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}

	began := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	waitJS("the dashboard", `document.querySelector("#ingest-rate") !== null`)
	waitJS("the first figures", `document.querySelector("#status").textContent.startsWith("live")`)
	if got := text("#accepted-total"); got != "0" {
		t.Fatalf("accepted before any post: %q, want 0", got)
	}
	if got := text("#lag-total"); got != "0" {
		t.Errorf("lag before any post: %q, want 0", got)
	}
	t.Logf("dashboard live after %s", time.Since(began).Round(time.Millisecond))

	// A steady stream of posts until the page shows them coming in.
	var sent atomic.Int64
	stream, stopStream := context.WithCancel(context.Background())
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		for i := 0; stream.Err() == nil; i++ {
			// Not postJSON: t.Fatal belongs to the test's goroutine.
			b, _ := json.Marshal(input(fmt.Sprintf("ui-%03d", i)))
			resp, err := client.Post(base+"/v1/posts", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Errorf("POST /v1/posts: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("POST /v1/posts: %s", resp.Status)
				return
			}
			sent.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	waitJS("a non-zero ingest rate", num("#ingest-rate")+` > 0`)
	waitJS("the ingest line drawn", `document.querySelectorAll("#rates-chart polyline.ingest").length === 1`)
	waitJS("the newest posts listed", `[...document.querySelectorAll("#posts li .title")].some(e => e.textContent.startsWith("ui-"))`)
	stopStream()
	<-streamed
	n := sent.Load()
	if n == 0 {
		t.Fatal("no post was accepted")
	}
	// Once the stream stops, the totals settle on exactly what was sent and
	// the sink catches up.
	waitJS(fmt.Sprintf("%d accepted", n), fmt.Sprintf(`%s === %d`, num("#accepted-total"), n))
	waitJS("the sink to catch up", fmt.Sprintf(`%s === %d && %s === 0`, num("#committed-total"), n, num("#lag-total")))
	if rows := text("#partitions"); rows == "" {
		t.Error("the per-partition lag table is empty")
	}
	t.Logf("%d posts sent; the page showed them accepted and committed after %s", n, time.Since(began).Round(time.Millisecond))

	// The form: a post it creates is accepted, listed and readable.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#f-author"), "browser"),
		chromedp.SendKeys(chromedp.CSS("#f-title"), "Posted from the dashboard"),
		chromedp.SendKeys(chromedp.CSS("#f-content"), "typed into the form"),
		chromedp.SendKeys(chromedp.CSS("#f-tags"), "ui, form"),
		chromedp.Click(chromedp.CSS(`#post-form button[type="submit"]`)),
	); err != nil {
		t.Fatalf("submit the form: %v", err)
	}
	waitJS("the 202 with the new id", `document.querySelector("#created-id") !== null`)
	id := text("#created-id")
	if !strings.Contains(text("#form-result"), "202") {
		t.Errorf("form result %q does not say 202", text("#form-result"))
	}
	waitJS("the form's post in the newest posts", fmt.Sprintf(`document.querySelector('#posts li[data-id=%q]') !== null`, id))
	got := getPost(t, base, id)
	if got.Author != "browser" || got.Title != "Posted from the dashboard" || got.Content != "typed into the form" || strings.Join(got.Tags, ",") != "ui,form" {
		t.Errorf("GET /v1/posts/%s = %+v", id, got)
	}
	waitJS("the form's post counted", fmt.Sprintf(`%s === %d`, num("#accepted-total"), n+1))

	// An invalid post shows the problem's detail.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#post-form button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS("the 422 problem shown", `document.querySelector("#form-result").textContent.startsWith("422")`)

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "ui-results"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
