// postpipe dashboard: polls /v1/stats every second and the newest documents
// of the chosen stream (posts unless the picker says otherwise) every two,
// draws the charts as SVG, and posts the form to /v1/posts, or a JSON
// document to /v1/{stream}. No dependencies; everything it loads comes from
// this server. Document text is only ever set as text, never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// Room for the y labels on the left and the x labels below.
const PAD = { l: 64, r: 14, t: 10, b: 26 };
const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
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

const count = (v) => (v >= 10000 ? compact.format(v) : fmt.format(v));
function ms(v) {
  if (v >= 1000) return fmt.format(v / 1000) + " s";
  return fmt.format(v) + " ms";
}

// linearScale: 0 to a nice maximum in steps of 1, 2 or 5 times a power of
// ten (a maximum of 1 in fifths, 2 in quarters, 5 in fifths); counts get a
// maximum of at least 4 in quarters, so their ticks are never fractions.
function linearScale(values, whole) {
  const top = Math.max(niceMax(Math.max(0, ...values)), whole ? 4 : 0);
  const lead = Math.round(top / Math.pow(10, Math.floor(Math.log10(top))));
  const div = lead === 2 || lead === 4 ? 4 : 5;
  const ticks = [];
  for (let i = 0; i <= div; i++) ticks.push((top * i) / div);
  return { ticks, frac: (v) => v / top };
}

// logScale: whole decades around the values, for latencies whose p50 and
// p99 can be orders of magnitude apart.
function logScale(values) {
  const pos = values.filter((v) => v > 0);
  let lo = pos.length ? Math.floor(Math.log10(Math.min(...pos))) : 0;
  let hi = pos.length ? Math.ceil(Math.log10(Math.max(...pos))) : 2;
  if (hi <= lo) hi = lo + 1;
  const ticks = [];
  for (let e = lo; e <= hi; e++) ticks.push(Math.pow(10, e));
  return { ticks, frac: (v) => (Math.log10(Math.max(v, ticks[0])) - lo) / (hi - lo) };
}

// drawChart replaces svg's content with a grid and one line per series, in
// CSS pixels at the size the page gives the svg, so labels keep their size
// at any width. Series are drawn in the order given: put the wide solid
// ones first, the dashed ones over them. A value that is null or undefined,
// or a missing sample, breaks the line.
// opts: { series: [{ cls, values: [{t, v}], area }], now, windowMs, stepMs,
//         log, whole (the values are counts), label, empty }
function drawChart(svg, opts) {
  const desc = svg.querySelector("desc");
  svg.replaceChildren(desc);
  const W = Math.max(svg.clientWidth, 200), H = Math.max(svg.clientHeight, 100);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const { series, now, windowMs } = opts;
  const inWindow = (p) => now - p.t <= windowMs && p.v !== null && p.v !== undefined;
  const all = series.flatMap((s) => s.values.filter(inWindow).map((p) => p.v));
  const scale = opts.log ? logScale(all) : linearScale(all, opts.whole);
  const label = opts.label || count;
  const pw = W - PAD.l - PAD.r, ph = H - PAD.t - PAD.b;
  const x = (t) => PAD.l + pw - ((now - t) / windowMs) * pw;
  const y = (v) => PAD.t + ph - scale.frac(v) * ph;

  for (const v of scale.ticks) {
    const yy = y(v);
    svg.append(el("svg:line", { class: v === scale.ticks[0] ? "axis" : "grid", x1: PAD.l, x2: W - PAD.r, y1: yy, y2: yy }));
    svg.append(el("svg:text", { x: PAD.l - 8, y: yy + 4, "text-anchor": "end" }, label(v)));
  }
  // At most ten time labels: every 15 s, 30 s, 1 min or 2 min.
  const stepS = [15, 30, 60, 120].find((s) => windowMs / 1000 / s <= 10) || 300;
  for (let sec = 0; sec * 1000 <= windowMs + 1e-6; sec += stepS) {
    const xx = x(now - sec * 1000);
    const last = (sec + stepS) * 1000 > windowMs + 1e-6;
    const text = sec === 0 ? "now" : sec % 60 === 0 ? `−${sec / 60} min` : `−${sec} s`;
    svg.append(el("svg:text", { x: xx, y: H - 6, "text-anchor": sec === 0 ? "end" : last ? "start" : "middle" }, text));
  }
  if (all.length === 0 && opts.empty) {
    svg.append(el("svg:text", { class: "empty", x: PAD.l + pw / 2, y: PAD.t + ph / 2, "text-anchor": "middle" }, opts.empty));
  }
  const gap = 2.5 * (opts.stepMs || 1000);
  for (const s of series) {
    // Segments of consecutive samples with a value.
    const segs = [];
    let cur = null, prevT = -Infinity;
    for (const p of s.values) {
      if (!inWindow(p) || p.t - prevT > gap) cur = null;
      prevT = p.t;
      if (!inWindow(p)) continue;
      if (!cur) segs.push((cur = []));
      cur.push([x(p.t), y(p.v)]);
    }
    if (segs.length === 0) continue;
    const base = y(scale.ticks[0]).toFixed(1);
    if (s.area) {
      const d = segs.filter((g) => g.length > 1)
        .map((g) => `M${g[0][0].toFixed(1)},${base} ` + g.map(([a, b]) => `L${a.toFixed(1)},${b.toFixed(1)}`).join(" ") + ` L${g[g.length - 1][0].toFixed(1)},${base} Z`)
        .join(" ");
      if (d) svg.append(el("svg:path", { class: s.cls + "-area", d }));
    }
    // A lone sample is drawn as a short dash so it shows at all.
    const d = segs.map((g) => (g.length === 1 ? `M${(g[0][0] - 3).toFixed(1)},${g[0][1].toFixed(1)} h6` :
      "M" + g.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" L"))).join(" ");
    svg.append(el("svg:path", { class: s.cls, d }));
  }
}

function setStatus(text, ok) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + (ok ? "ok" : "bad");
}

// The readiness checks' names, as the dashboard calls them.
const depNames = { kafka: "kafka", mongodb: "store", sink: "sink" };

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

function renderHealth(health, now) {
  $("health").replaceChildren(...health.map((h) => {
    const name = depNames[h.name] || h.name;
    const since = Date.parse(h.since);
    const li = el("li", { class: "dep " + (h.ok ? "ok" : "down"), "data-check": h.name },
      h.ok ? `${name} ok` : `${name} down ${ago(now - since)}`);
    li.title = h.ok ? `${h.name}: passing since ${new Date(since).toLocaleTimeString()}` : `${h.name}: ${h.error}`;
    return li;
  }));
}

function setFigure(id, text, alert) {
  const n = $(id);
  n.textContent = text;
  n.closest(".figure").classList.toggle("alert", !!alert);
}

let lastStats = null;

function renderStats(st) {
  lastStats = st;
  const samples = st.samples;
  const last = samples.length ? samples[samples.length - 1] : {};
  setFigure("ingest-rate", fmt.format(last.ingestRate || 0));
  setFigure("sink-rate", fmt.format(last.sinkRate || 0));
  setFigure("lag-total", whole.format(st.lag.total));
  setFigure("client-error-rate", fmt.format(last.clientErrorRate || 0));
  setFigure("unavailable-rate", fmt.format(last.unavailableRate || 0), last.unavailableRate > 0);
  // The newest sample with a write in it: a quiet second shows the last
  // latency seen rather than a dash.
  const lat = [...samples].reverse().find((s) => s.p99Ms > 0);
  setFigure("p99-latency", lat ? fmt.format(lat.p99Ms) : "–");
  setFigure("dlq-total", whole.format(st.totals.dlq), st.totals.dlq > 0);
  setFigure("accepted-total", whole.format(st.totals.accepted));
  const changes = st.totals.changes || {};
  const ops = ["put", "patch", "delete"].filter((op) => changes[op]);
  setFigure("changes-total", whole.format(ops.reduce((n, op) => n + changes[op], 0)));
  // The split by op in the tooltip: the figure's line has room for one word.
  $("changes-total").closest(".figure").title = ops.length
    ? ops.map((op) => op + " " + whole.format(changes[op])).join(" · ")
    : "PUT, PATCH and DELETE accepted by this API";
  setFigure("committed-total", whole.format(st.totals.committed));

  const now = Date.parse(st.at) || Date.now();
  // Until the sampler has its full window, the charts span what it has,
  // rounded up to a whole minute: a fresh process's first seconds would
  // otherwise be a sliver at the right edge of five minutes.
  const first = samples.length ? Date.parse(samples[0].at) : now;
  const windowMs = Math.min(st.windowSeconds * 1000, Math.max(60000, Math.ceil((now - first) / 60000) * 60000));
  const stepMs = st.intervalSeconds * 1000;
  const pts = (f) => samples.map((s) => ({ t: Date.parse(s.at), v: f(s) }));
  const common = { now, windowMs, stepMs };
  drawChart($("rates-chart"), { ...common, series: [
    { cls: "ingest", values: pts((s) => s.ingestRate) },
    { cls: "sink", values: pts((s) => s.sinkRate) },
  ] });
  drawChart($("errors-chart"), { ...common, series: [
    { cls: "client-errors", values: pts((s) => s.clientErrorRate) },
    { cls: "unavailable", values: pts((s) => s.unavailableRate) },
    { cls: "server-errors", values: pts((s) => s.serverErrorRate) },
  ] });
  drawChart($("latency-chart"), { ...common, log: true, label: ms, empty: "no post answered in this window", series: [
    { cls: "p50", values: pts((s) => s.p50Ms) },
    { cls: "p99", values: pts((s) => s.p99Ms) },
  ] });
  drawChart($("lag-chart"), { ...common, whole: true, series: [{ cls: "lag", values: pts((s) => s.lag), area: true }] });

  $("partitions").replaceChildren(...st.lag.partitions.map((p) => {
    const tr = el("tr");
    tr.append(el("td", {}, p.stream || ""));
    for (const v of [p.partition, p.committed, p.end, p.lag]) tr.append(el("td", {}, whole.format(v)));
    return tr;
  }));
  renderHealth(st.health || [], now);
  renderStreams(st.streams);

  if (st.error) setStatus("broker figures stale: " + st.error, false);
  else setStatus("live · updated " + new Date(now).toLocaleTimeString(), true);
}

// The charts are drawn at their displayed size: redraw when it changes.
let resizing = 0;
window.addEventListener("resize", () => {
  cancelAnimationFrame(resizing);
  resizing = requestAnimationFrame(() => lastStats && renderStats(lastStats));
});

// The streams the API serves (GET /v1/stats names them, posts first) and the
// one the newest-documents panel and the form show. The URL's hash
// (#stream=orders) remembers the choice, so a reload or a shared link keeps
// it; a stream the API does not serve falls back to posts.
const BUILTIN = "posts";
let served = [BUILTIN];
let current = BUILTIN;
// streamsKnown: the first stats have named the streams, so a stream the
// hash asks for can be told from one not served.
let streamsKnown = false;

const streamPath = (name) => "/v1/" + encodeURIComponent(name);

function wantedStream() {
  const m = /^#stream=([^&]+)$/.exec(location.hash);
  if (!m) return BUILTIN;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return BUILTIN;
  }
}

function renderStreams(names) {
  streamsKnown = true;
  if (!Array.isArray(names) || names.length === 0) names = [BUILTIN];
  if (names.join("\n") !== served.join("\n")) {
    served = names.map(String);
    $("stream").replaceChildren(...served.map((n) => el("option", { value: n }, n)));
  }
  // With posts alone there is nothing to choose.
  $("stream-bar").hidden = served.length < 2;
  showStream(wantedStream());
}

// showStream switches the newest-documents panel and the form to stream
// name, and fetches its newest documents at once.
function showStream(name) {
  if (!served.includes(name)) name = BUILTIN;
  $("stream").value = name;
  if (name === current) return;
  current = name;
  const posts = name === BUILTIN;
  $("posts-title").textContent = posts ? "Newest posts" : `Newest in ${name}`;
  $("form-title").textContent = posts ? "Create a post" : `Send a document to ${name}`;
  $("post-form").hidden = !posts;
  $("doc-form").hidden = posts;
  $("doc-route").textContent = streamPath(name);
  $("posts").replaceChildren();
  $("posts-empty").textContent = posts ? "No posts stored yet." : `No document stored in ${name} yet.`;
  $("posts-empty").hidden = false;
  const out = $("form-result");
  out.className = "result";
  out.replaceChildren();
  pollPosts();
}

function chooseStream(name) {
  // replaceState: switching streams is not a page to go back to.
  history.replaceState(null, "", name === BUILTIN ? location.pathname + location.search : "#stream=" + encodeURIComponent(name));
  showStream(name);
}

function postItem(p) {
  const li = el("li", { "data-id": p.id });
  const link = el("a", { class: "title", href: "/v1/posts/" + encodeURIComponent(p.id) }, p.title);
  li.append(link, " ", el("span", { class: "meta" }, `by ${p.author} · ${new Date(p.createdAt).toLocaleTimeString()}`));
  return li;
}

// The members the API adds to every document it answers with.
const ANSWER_MEMBERS = new Set(["id", "createdAt", "ingestedAt"]);
const PREVIEW_CHARS = 160;

// UNSEEN are the characters JSON leaves as they are that would change how
// a line reads: the line and paragraph separators and the bidirectional
// controls.
const UNSEEN = /[\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

// preview is a document's own members as one line of JSON, cut to
// PREVIEW_CHARS characters: JSON.stringify escapes every control
// character, and the UNSEEN ones are escaped here too.
function preview(d) {
  const own = {};
  for (const [k, v] of Object.entries(d)) if (!ANSWER_MEMBERS.has(k)) own[k] = v;
  const s = JSON.stringify(own).replace(UNSEEN, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  const chars = [...s];
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS - 1).join("") + "…" : s;
}

function docItem(name, d) {
  const id = String(d.id ?? "");
  const created = Date.parse(d.createdAt);
  const li = el("li", { "data-id": id });
  li.append(
    el("a", { class: "title", href: streamPath(name) + "/" + encodeURIComponent(id) }, id), " ",
    el("span", { class: "meta" }, Number.isNaN(created) ? "" : new Date(created).toLocaleTimeString()),
    el("code", { class: "preview" }, preview(d)),
  );
  return li;
}

// renderPosts lists a page of stream name: {"<name>": [...], "nextCursor"}.
function renderPosts(name, page) {
  const items = Array.isArray(page[name]) ? page[name] : [];
  $("posts-empty").hidden = items.length > 0;
  $("posts").replaceChildren(...items.map((d) => (name === BUILTIN ? postItem(d) : docItem(name, d))));
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
  const name = current;
  // Opened on another stream's link: wait for the stats to say it is
  // served rather than show the posts for a moment.
  if (!streamsKnown && wantedStream() !== name) return;
  try {
    const page = await getJSON(streamPath(name) + "?limit=10");
    // A page that comes back after the picker moved on is not shown.
    if (name === current) renderPosts(name, page);
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

// showProblem writes a problem answer (RFC 9457) into out: the status, the
// detail and each field error the API listed.
function showProblem(out, status, p) {
  out.className = "result bad";
  out.replaceChildren(`${status}: ${p.detail || p.title || "refused"}`);
  const errs = Array.isArray(p.errors) ? p.errors : [];
  if (errs.length === 0) return;
  const list = el("ul", { class: "errors" });
  for (const e of errs) list.append(el("li", {}, e.field ? `${e.field}: ${e.message}` : String(e.message)));
  if (p.moreErrors > 0) list.append(el("li", {}, `and ${p.moreErrors} more`));
  out.append(list);
}

// submitDoc sends the textarea as it is: the API, not the page, says what
// is wrong with it.
async function submitDoc(ev) {
  ev.preventDefault();
  const name = current, out = $("form-result");
  out.className = "result";
  out.textContent = "sending…";
  try {
    const r = await fetch(streamPath(name), { method: "POST", headers: { "Content-Type": "application/json" }, body: $("f-doc").value });
    const answer = await r.json().catch(() => ({}));
    if (r.status === 202) {
      out.className = "result ok";
      out.replaceChildren(`Accepted by ${name} (202): `,
        el("a", { id: "created-id", href: streamPath(name) + "/" + encodeURIComponent(answer.id) }, answer.id));
      return;
    }
    showProblem(out, r.status, answer);
  } catch (e) {
    out.className = "result bad";
    out.textContent = "not sent: " + e.message;
  }
}

$("post-form").addEventListener("submit", submitPost);
$("doc-form").addEventListener("submit", submitDoc);
$("stream").addEventListener("change", (ev) => chooseStream(ev.target.value));
window.addEventListener("hashchange", () => showStream(wantedStream()));
pollStats();
pollPosts();
setInterval(pollStats, 1000);
setInterval(pollPosts, 2000);
