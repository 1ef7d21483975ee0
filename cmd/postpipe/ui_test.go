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

	"github.com/postpipe/postpipe/internal/testkit"
)

// chromium finds a Chromium or Chrome binary. Without one the browser test
// is skipped, unless POSTPIPE_TEST_SUITE=ui (make test-ui) asks for it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	skipOutside(t, "ui", "no chromium binary is on PATH: the dashboard's browser test needs one (make test-ui installs Debian's chromium)")
	return ""
}

// screenshotWidth is the viewport width of the saved screenshot.
const screenshotWidth = 1400

// layoutProblems is a JavaScript function listing what makes the dashboard
// hard to read at the current width: a figure, chart, legend entry,
// dependency or the stream picker missing, hidden or of zero size, not
// exactly one form shown, text under 11 px as
// displayed (an SVG's text is scaled with its svg), a chart narrower than
// 90 % of the content, a series line missing, lines that would hide each
// other where they coincide, a horizontal scroll bar.
const layoutProblems = `() => {
  const out = [];
  const vis = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && e.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  };
  for (const sel of ["#ingest-rate", "#sink-rate", "#lag-total", "#client-error-rate", "#unavailable-rate", "#p99-latency",
      "#dlq-total", "#rates-chart", "#errors-chart", "#latency-chart", "#lag-chart", "#partitions", "#posts", "#stream"]) {
    const e = document.querySelector(sel);
    if (!e) out.push(sel + ": missing");
    else if (!vis(e)) out.push(sel + ": hidden or of zero size");
  }
  // The posts' form or another stream's, never both.
  const forms = [...document.querySelectorAll("form")].filter(vis).map((f) => "#" + f.id);
  if (forms.length !== 1) out.push("forms shown: " + JSON.stringify(forms) + ", want one");
  for (const c of ["kafka", "mongodb", "sink"]) {
    const e = document.querySelector('#health [data-check="' + c + '"]');
    if (!e || !vis(e)) out.push("the health of " + c + " is not shown");
  }
  const main = document.querySelector("main"), ms = getComputedStyle(main);
  const content = main.clientWidth - parseFloat(ms.paddingLeft) - parseFloat(ms.paddingRight);
  for (const c of document.querySelectorAll("svg.chart")) {
    const w = c.getBoundingClientRect().width;
    if (w < 0.9 * content) out.push("#" + c.id + " is " + Math.round(w) + " px wide, under 90 % of the content's " + Math.round(content) + " px");
    // Where lines coincide, each drawn over another must leave it
    // visible: narrower than those under it, and dashed.
    const lines = [...c.querySelectorAll("path:not([class$=-area])")];
    for (let i = 1; i < lines.length; i++) {
      const cs = getComputedStyle(lines[i]);
      for (let j = 0; j < i; j++) {
        if (parseFloat(cs.strokeWidth) >= parseFloat(getComputedStyle(lines[j]).strokeWidth) || cs.strokeDasharray === "none")
          out.push("#" + c.id + ": " + lines[i].getAttribute("class") + " is drawn over " + lines[j].getAttribute("class") + " and would hide it");
      }
    }
  }
  const entries = document.querySelectorAll(".legend li");
  if (entries.length < 8) out.push("only " + entries.length + " legend entries");
  for (const li of entries) {
    const key = li.querySelector(".key"), series = li.dataset.series;
    if (!vis(li) || !key || !vis(key)) out.push("legend entry " + series + " is not visible");
    const chart = li.closest("section").querySelector("svg.chart");
    const line = chart.querySelector("path." + series);
    if (!line || line.getBoundingClientRect().width === 0) out.push("no " + series + " line in #" + chart.id);
  }
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const e = n.parentElement;
    if (!n.textContent.trim() || !vis(e) || e.closest(".visually-hidden")) continue;
    let px = parseFloat(getComputedStyle(e).fontSize);
    if (e instanceof SVGElement) px *= e.getScreenCTM().a;
    if (px < 11) out.push("text " + JSON.stringify(n.textContent.trim().slice(0, 30)) + " is " + px.toFixed(1) + " px");
  }
  if (document.documentElement.scrollWidth > window.innerWidth) out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " px");
  return out;
}`

// num is a JavaScript expression for the number an element shows, without
// its thousands separators.
func num(sel string) string {
	return fmt.Sprintf(`Number(document.querySelector(%q).textContent.replaceAll(",", ""))`, sel)
}

// TestDashboardInBrowser opens the dashboard of a real pipeline ('postpipe
// run' on the embedded broker and store, serving posts and the example's
// orders and clicks) in headless Chromium and watches its figures follow
// the posts sent to the API and through its own form; then its stream
// picker switches the newest documents and the form to orders.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromium(t)
	addr := freeAddr(t)
	base := "http://" + addr
	start(t, "run", map[string]string{"POSTPIPE_DATA_DIR": t.TempDir(), "POSTPIPE_HTTP_ADDR": addr,
		"POSTPIPE_STREAMS_FILE": streamsFile(t, "ui_")})
	waitReady(t, base)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests may run as root, which Chromium's sandbox refuses
		chromedp.WindowSize(screenshotWidth, 1000),
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

	// screenshot saves the page as ui-results/name.
	screenshot := func(name string) {
		t.Helper()
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
		shot := filepath.Join(dir, name)
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", shot, len(png))
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
	// The picker lists what the API serves, posts first and chosen.
	waitJS("the stream picker", `!document.querySelector("#stream-bar").hidden && `+
		`[...document.querySelector("#stream").options].map(o => o.value).join() === "posts,orders,clicks" && `+
		`document.querySelector("#stream").value === "posts"`)
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
	waitJS("the ingest line drawn", `document.querySelectorAll("#rates-chart path.ingest").length === 1`)
	waitJS("a write latency", num("#p99-latency")+` > 0`)
	waitJS("the newest posts listed", `[...document.querySelectorAll("#posts li .title")].some(e => e.textContent.startsWith("ui-"))`)
	// A few seconds of it, so the charts (and the screenshot) show lines
	// rather than a spike.
	testkit.Eventually(t, 60*time.Second, "five samples with posts coming in", func() bool {
		busy := 0
		for _, sm := range getStats(t, base).Samples {
			if sm.IngestRate > 0 && sm.P99Ms > 0 {
				busy++
			}
		}
		return busy >= 5
	})
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
	testkit.Eventually(t, 30*time.Second, "the 422 counted as a 4xx", func() bool { return getStats(t, base).Totals.ClientErrors >= 1 })

	// Readable at the widths it is meant for; the last one is the
	// screenshot's.
	for _, width := range []int64{1920, 1280, screenshotWidth} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 1000)); err != nil {
			t.Fatalf("viewport %d px: %v", width, err)
		}
		// The charts redraw at their new size on the next frame.
		cond := fmt.Sprintf(`window.innerWidth === %d && (%s)().length === 0`, width, layoutProblems)
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
			problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string]("("+layoutProblems+")()"))
			if err != nil {
				t.Fatalf("at %d px: %v", width, err)
			}
			for _, p := range problems {
				t.Errorf("at %d px: %s", width, p)
			}
		}
	}

	screenshot("dashboard.png")

	// The picker: orders replaces the posts in the newest documents and
	// the posts' form with a JSON one, and the URL remembers the choice.
	choose := func(name string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const s = document.querySelector("#stream"); s.value = %q; s.dispatchEvent(new Event("change")); })()`, name)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			t.Fatalf("choose %s: %v", name, err)
		}
	}
	choose("orders")
	waitJS("the orders view", `location.hash === "#stream=orders" && document.querySelector("#posts-title").textContent.includes("orders") && `+
		`document.querySelector("#doc-form").checkVisibility() && !document.querySelector("#post-form").checkVisibility() && `+
		`document.querySelector("#doc-route").textContent === "/v1/orders" && document.querySelectorAll("#posts li").length === 0`)

	// An order typed into the form, with text that is markup and
	// characters that would garble its line if shown as they are (a
	// right-to-left override, a line separator), early in the document so
	// the preview's cut leaves them in.
	const orderID = "ui-order-1"
	body := `{"orderId": "` + orderID + `", "customer": "browser", "note": "<b>not bold</b> & \"quoted\" \u202e\u2028end",
  "status": "placed", "placedAt": "2026-12-04T10:00:00Z", "items": [{"sku": "sku-1", "quantity": 2, "amount": 10}]}`
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#f-doc"), body),
		chromedp.Click(chromedp.CSS(`#doc-form button[type="submit"]`)),
	); err != nil {
		t.Fatalf("submit the order: %v", err)
	}
	waitJS("the order's 202", fmt.Sprintf(`document.querySelector("#created-id")?.textContent === %q`, orderID))
	if got := text("#form-result"); !strings.Contains(got, "202") || !strings.Contains(got, "orders") {
		t.Errorf("form result %q does not say 202 from orders", got)
	}
	if href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#created-id").getAttribute("href")`)); err != nil || href != "/v1/orders/"+orderID {
		t.Errorf("the new id links to %q (%v), want /v1/orders/%s", href, err, orderID)
	}
	// Listed with its id, its time and its members on one line, as text.
	item := fmt.Sprintf(`document.querySelector('#posts li[data-id=%q]')`, orderID)
	waitJS("the order among the newest orders", item+` !== null`)
	preview, err := chromedp.Run(ctx, chromedp.Evaluate[string](item+`.querySelector(".preview").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"customer":"browser"`, `<b>not bold</b> & \"quoted\"`, `\u202e`, `\u2028end`} {
		if !strings.Contains(preview, want) {
			t.Errorf("the order's preview %q does not show %q", preview, want)
		}
	}
	if strings.ContainsAny(preview, "\u202e\u2028") || strings.Contains(preview, `"createdAt"`) {
		t.Errorf("the order's preview %q shows a raw control character or the API's own members", preview)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#posts b, #posts li .preview *").length`)); err != nil || n != 0 {
		t.Errorf("the document's text became %d elements (%v): it must be shown as text", n, err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](item+`.querySelector(".title").getAttribute("href")`)); err != nil || got != "/v1/orders/"+orderID {
		t.Errorf("the order links to %q (%v)", got, err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("#posts li .title")].filter(e => !e.getAttribute("href").startsWith("/v1/orders/")).length`)); err != nil || n != 0 {
		t.Errorf("%d documents of another stream listed among the orders (%v)", n, err)
	}

	// An order the schema refuses shows the problem and its field errors.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#f-doc"), `{"orderId": "ui-order-2", "customer": "browser"}`),
		chromedp.Click(chromedp.CSS(`#doc-form button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitJS("the order's 422 and its errors", `document.querySelector("#form-result").textContent.startsWith("422") && `+
		`document.querySelectorAll("#form-result .errors li").length > 0`)

	// Legible at 1,400 px with orders shown too.
	cond := fmt.Sprintf(`(%s)().length === 0`, layoutProblems)
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string]("("+layoutProblems+")()"))
		if err != nil {
			t.Fatalf("orders at %d px: %v", screenshotWidth, err)
		}
		for _, p := range problems {
			t.Errorf("orders at %d px: %s", screenshotWidth, p)
		}
	}
	screenshot("dashboard-orders.png")

	// A reload keeps orders; choosing posts again brings the posts back.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitJS("orders after the reload", `document.querySelector("#stream").value === "orders" && `+item+` !== null`)
	choose("posts")
	waitJS("the posts view again", `location.hash === "" && document.querySelector("#post-form").checkVisibility() && `+
		`!document.querySelector("#doc-form").checkVisibility() && `+
		`document.querySelectorAll("#posts li .title").length > 0 && `+
		`[...document.querySelectorAll("#posts li .title")].every(e => e.getAttribute("href").startsWith("/v1/posts/"))`)
}
