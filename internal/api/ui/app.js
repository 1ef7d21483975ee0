// postpipe dashboard: polls /v1/stats every second and the newest posts every
// two, draws the charts as SVG, and posts the form to /v1/posts. No
// dependencies; everything it loads comes from this server.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 200, PAD = { l: 48, r: 8, t: 8, b: 22 };
const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat("en");

const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const n = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// niceMax rounds up to 1, 2 or 5 times a power of ten, so the grid reads well.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// drawChart replaces svg's content with a grid and one line per series.
// series: [{ cls, values: [{t, v}], area }], t in ms; now and window in ms.
function drawChart(svg, series, now, windowMs) {
  const desc = svg.querySelector("desc");
  svg.replaceChildren(desc);
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values.map((p) => p.v))));
  const pw = W - PAD.l - PAD.r, ph = H - PAD.t - PAD.b;
  const x = (t) => PAD.l + pw - ((now - t) / windowMs) * pw;
  const y = (v) => PAD.t + ph - (v / top) * ph;

  // A top of 5, 50, … divides into fifths, anything else into quarters:
  // whole numbers either way for counts of 4 and up.
  const div = Math.round(top / Math.pow(10, Math.floor(Math.log10(top)))) === 5 ? 5 : 4;
  for (let i = 0; i <= div; i++) {
    const v = (top * i) / div, yy = y(v);
    svg.append(el("svg:line", { class: "grid", x1: PAD.l, x2: W - PAD.r, y1: yy, y2: yy }));
    svg.append(el("svg:text", { x: PAD.l - 6, y: yy + 4, "text-anchor": "end" }, fmt.format(v)));
  }
  const minutes = windowMs / 60000;
  const step = minutes > 2 ? 1 : 0.5;
  for (let m = 0; m <= minutes + 1e-9; m += step) {
    const xx = x(now - m * 60000);
    svg.append(el("svg:text", { x: xx, y: H - 6, "text-anchor": m === 0 ? "end" : "middle" }, m === 0 ? "now" : `-${m}m`));
  }
  for (const s of series) {
    const pts = s.values.filter((p) => now - p.t <= windowMs).map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    if (pts.length === 0) continue;
    if (s.area && pts.length > 1) {
      const first = pts[0].split(",")[0], last = pts[pts.length - 1].split(",")[0];
      svg.append(el("svg:polygon", { class: s.cls + "-area", points: `${first},${y(0)} ${pts.join(" ")} ${last},${y(0)}` }));
    }
    svg.append(el("svg:polyline", { class: s.cls, points: pts.join(" ") }));
  }
}

function setStatus(text, ok) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + (ok ? "ok" : "bad");
}

function renderStats(st) {
  const last = st.samples.length ? st.samples[st.samples.length - 1] : { ingestRate: 0, sinkRate: 0 };
  $("ingest-rate").textContent = fmt.format(last.ingestRate);
  $("sink-rate").textContent = fmt.format(last.sinkRate);
  $("lag-total").textContent = whole.format(st.lag.total);
  $("dlq-total").textContent = whole.format(st.totals.dlq);
  $("accepted-total").textContent = whole.format(st.totals.accepted);
  $("committed-total").textContent = whole.format(st.totals.committed);

  const now = Date.parse(st.at) || Date.now();
  const windowMs = st.windowSeconds * 1000;
  const pts = (f) => st.samples.map((s) => ({ t: Date.parse(s.at), v: f(s) }));
  drawChart($("rates-chart"), [
    { cls: "sink", values: pts((s) => s.sinkRate) },
    { cls: "ingest", values: pts((s) => s.ingestRate) },
  ], now, windowMs);
  drawChart($("lag-chart"), [{ cls: "lag", values: pts((s) => s.lag), area: true }], now, windowMs);

  $("partitions").replaceChildren(...st.lag.partitions.map((p) => {
    const tr = el("tr");
    for (const v of [p.partition, p.committed, p.end, p.lag]) tr.append(el("td", {}, whole.format(v)));
    return tr;
  }));

  if (st.error) setStatus("broker figures stale: " + st.error, false);
  else setStatus("live · updated " + new Date(now).toLocaleTimeString(), true);
}

function renderPosts(page) {
  $("posts-empty").hidden = page.posts.length > 0;
  $("posts").replaceChildren(...page.posts.map((p) => {
    const li = el("li", { "data-id": p.id });
    const link = el("a", { class: "title", href: "/v1/posts/" + encodeURIComponent(p.id) }, p.title);
    li.append(link, " ", el("span", { class: "meta" }, `by ${p.author} · ${new Date(p.createdAt).toLocaleTimeString()}`));
    return li;
  }));
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function pollStats() {
  try {
    renderStats(await getJSON("/v1/stats"));
  } catch (e) {
    setStatus("cannot reach the API: " + e.message, false);
  }
}

async function pollPosts() {
  try {
    renderPosts(await getJSON("/v1/posts?limit=10"));
  } catch (e) {
    // The status line reports an unreachable API; a store that does not
    // answer shows as a stale list until it does.
  }
}

async function submitPost(ev) {
  ev.preventDefault();
  const form = ev.target, out = $("form-result");
  const data = new FormData(form);
  const body = {
    author: data.get("author"),
    title: data.get("title"),
    content: data.get("content"),
    tags: String(data.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean),
  };
  out.className = "result";
  out.textContent = "sending…";
  try {
    const r = await fetch("/v1/posts", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await r.json();
    if (r.status === 202) {
      out.className = "result ok";
      out.replaceChildren("Accepted (202): ", el("a", { id: "created-id", href: "/v1/posts/" + encodeURIComponent(answer.id) }, answer.id));
      form.reset();
      return;
    }
    // The detail already names each invalid field.
    out.className = "result bad";
    out.textContent = `${r.status}: ${answer.detail || answer.title}`;
  } catch (e) {
    out.className = "result bad";
    out.textContent = "not sent: " + e.message;
  }
}

$("post-form").addEventListener("submit", submitPost);
pollStats();
pollPosts();
setInterval(pollStats, 1000);
setInterval(pollPosts, 2000);
