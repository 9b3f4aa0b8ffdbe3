"""`pulse run --dashboard`: a small live page on the metrics server, fed by `FlowMetrics`.

    /            the page: triggers per minute by kind and decision, the stage
                 funnel, recent triggers, events and watermarks
    /api/summary the same data as JSON (`FlowMetrics.snapshot()`)

Self-contained: inline CSS, JS and SVG, nothing fetched from elsewhere. The page
carries the data it was served with and draws it on load (so a page saved or read
without scripts still holds the counts), then refreshes from `/api/summary` every
two seconds.
"""

from __future__ import annotations

import html

import msgspec

from pulse.metrics import FlowMetrics, Page

__all__ = ["PAGES", "page", "summary"]

_JSON = msgspec.json.Encoder()


def summary(metrics: FlowMetrics) -> tuple[int, str, bytes]:
    """`/api/summary`: the metrics' snapshot as JSON."""
    return 200, "application/json", _JSON.encode(metrics.snapshot())


def page(metrics: FlowMetrics) -> tuple[int, str, bytes]:
    """`/`: the dashboard, with the current snapshot inlined."""
    # `</` cannot end the script element early once escaped this way.
    data = _JSON.encode(metrics.snapshot()).decode().replace("</", "<\\/")
    body = _PAGE.replace("__DATA__", data).replace("__TITLE__", html.escape("pulse"))
    return 200, "text/html; charset=utf-8", body.encode()


PAGES: dict[str, Page] = {"/": page, "/dashboard": page, "/api/summary": summary}
"""The dashboard's routes, for `pulse.metrics.serve`."""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ live</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
header{background:#1d2430;color:#fff;padding:10px 18px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0}
main{display:grid;grid-template-columns:1fr 1fr;gap:14px;padding:14px}
section{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002}
section.wide{grid-column:1/3}
h2{font-size:14px;margin:0 0 8px;color:#4a5568}
table{border-collapse:collapse;width:100%}
td,th{padding:2px 6px;text-align:right;font-variant-numeric:tabular-nums}
td:first-child,th:first-child{text-align:left}
th{color:#4a5568;font-weight:600;border-bottom:1px solid #e2e8f0}
.sent{fill:#2f855a;color:#2f855a}.deferred{fill:#b7791f;color:#b7791f}
.suppressed{fill:#c53030;color:#c53030}.held_out{fill:#6b46c1;color:#6b46c1}
.bar{fill:#3182ce}.muted{color:#718096}
#recent td,#recent th{text-align:left}#recent td:last-child,#recent th:last-child{text-align:right}
</style></head>
<body>
<header><h1>pulse</h1><span id="events">-</span><span id="rate" class="muted"></span>
<span id="fired">-</span></header>
<main>
<section class="wide"><h2>Triggers per minute, by decision
<span class="sent">sent</span> <span class="deferred">deferred</span>
<span class="suppressed">suppressed</span> <span class="held_out">held_out</span></h2>
<svg id="minutes" width="100%" height="160" role="img" aria-label="triggers per minute"></svg>
</section>
<section><h2>Triggers by kind and decision</h2><table id="triggers"></table></section>
<section><h2>Stage funnel (contacts)</h2>
<svg id="funnel" width="100%" height="200" role="img" aria-label="contacts per stage"></svg>
</section>
<section class="wide"><h2>Recent triggers</h2><table id="recent"></table></section>
</main>
<script>
const DECISIONS = ["sent", "deferred", "suppressed", "held_out"];
const FUNNEL = ["awareness", "consideration", "decision", "customer", "loyal", "advocate",
                "at_risk", "lost"];
const NS = "http://www.w3.org/2000/svg";
const fmt = n => Number(n).toLocaleString("en-US");
let previous = null;

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4))
                                      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function row(cells, head, byDecision) {
  const tr = el("tr");
  cells.forEach((c, i) => tr.appendChild(
    el(head ? "th" : "td", byDecision && i && DECISIONS[i - 1] ? {class: DECISIONS[i - 1]} : {},
       c)));
  return tr;
}

function render(data) {
  const events = (data.events.applied || 0) + (data.events.duplicate || 0)
               + (data.events.replayed || 0);
  const fired = data.triggers.reduce((s, t) => s + t.count, 0);
  document.getElementById("events").textContent = fmt(events) + " events";
  document.getElementById("fired").textContent = fmt(fired) + " triggers";
  if (previous && data.uptime_s > previous.uptime_s) {
    const rate = (events - previous.events) / (data.uptime_s - previous.uptime_s);
    document.getElementById("rate").textContent = fmt(Math.round(rate)) + " events/s";
  }
  previous = {events: events, uptime_s: data.uptime_s};

  const table = document.getElementById("triggers");
  table.replaceChildren(row(["trigger", ...DECISIONS, "total"], true));
  const kinds = {};
  for (const t of data.triggers) (kinds[t.trigger] ||= {})[t.decision] = t.count;
  for (const name of Object.keys(kinds).sort()) {
    const counts = kinds[name];
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const tr = row([name, ...DECISIONS.map(d => fmt(counts[d] || 0)), fmt(total)], false, true);
    tr.setAttribute("data-trigger", name);
    tr.setAttribute("data-total", total);
    table.appendChild(tr);
  }

  const chart = document.getElementById("minutes");
  chart.replaceChildren();
  const minutes = {};
  for (const p of data.per_minute) (minutes[p.minute_s] ||= {})[p.decision] =
    ((minutes[p.minute_s] || {})[p.decision] || 0) + p.count;
  const keys = Object.keys(minutes).map(Number).sort((a, b) => a - b);
  const width = chart.clientWidth || 800, height = 140;
  const most = Math.max(1, ...keys.map(k => Object.values(minutes[k]).reduce((a, b) => a + b, 0)));
  const step = width / 30;
  keys.forEach((k, i) => {
    let y = height;
    for (const d of DECISIONS) {
      const h = (minutes[k][d] || 0) / most * (height - 10);
      if (!h) continue;
      y -= h;
      const bar = el("svg:rect", {x: (30 - keys.length + i) * step + 1, y: y, width: step - 2,
                                  height: h, class: d});
      bar.appendChild(el("svg:title", {}, new Date(k * 1000).toLocaleTimeString() + " " + d
                                           + ": " + minutes[k][d]));
      chart.appendChild(bar);
    }
  });
  chart.appendChild(el("svg:text", {x: 4, y: 152, class: "muted", "font-size": 11},
                       "last 30 minutes (wall clock); most in a minute: " + fmt(most)));

  const funnel = document.getElementById("funnel");
  funnel.replaceChildren();
  const stages = FUNNEL.filter(s => s in data.stages)
    .concat(Object.keys(data.stages).filter(s => !FUNNEL.includes(s)).sort());
  const biggest = Math.max(1, ...stages.map(s => data.stages[s]));
  const fwidth = funnel.clientWidth || 400;
  stages.forEach((s, i) => {
    const w = data.stages[s] / biggest * (fwidth - 220);
    funnel.appendChild(el("svg:rect", {x: 110, y: i * 24 + 2, width: Math.max(w, 1), height: 18,
                                       class: "bar"}));
    funnel.appendChild(el("svg:text", {x: 0, y: i * 24 + 16}, s));
    funnel.appendChild(el("svg:text", {x: 116 + w, y: i * 24 + 16}, fmt(data.stages[s])));
  });
  funnel.setAttribute("height", Math.max(40, stages.length * 24 + 4));

  const recent = document.getElementById("recent");
  recent.replaceChildren(row(["event time", "trigger", "contact", "decision", "stage", "score"],
                             true));
  for (const t of data.recent.slice(0, 15)) {
    const tr = row([t.ts.slice(0, 19).replace("T", " "), t.trigger, t.contact_id, t.decision,
                    t.stage, t.score.toFixed(1)]);
    tr.children[3].className = t.decision;
    recent.appendChild(tr);
  }
}

render(__DATA__);
setInterval(() => fetch("api/summary").then(r => r.json()).then(render).catch(() => {}), 2000);
</script>
</body></html>
"""
