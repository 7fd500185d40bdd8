"""Monitoring report for playbooks/monitoring_report.yml: query Prometheus over a time window
and write a self-contained HTML page (PNG plots inlined as data: URIs) plus the
plots and a report.json with every figure and the query that produced it.

    monitoring_report.py --url http://mon:9090 --window 1h --output reports/2026-01-01

An empty or young Prometheus gives a report that says so, not a crash. An
unreachable one is an error with one clear message (exit 2)."""

import argparse
import base64
import datetime
import html
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# Figures: key -> (label, PromQL with {w} for the window).
TOTALS = [
    ("requests_total", "Requests", 'sum(increase(ultraai_http_requests_total[{w}]))'),
    ("errors_5xx_total", "5xx responses", 'sum(increase(ultraai_http_requests_total{{status=~"5.."}}[{w}]))'),
    ("uploads_total", "Uploads", "sum(increase(ultraai_uploads_total[{w}]))"),
    ("analyze_total", "Analyze calls", "sum(increase(ultraai_analyze_total[{w}]))"),
    ("latency_p50_seconds", "p50 latency (s)",
     "histogram_quantile(0.5, sum by (le) (rate(ultraai_http_request_duration_seconds_bucket[{w}])))"),
    ("latency_p99_seconds", "p99 latency (s)",
     "histogram_quantile(0.99, sum by (le) (rate(ultraai_http_request_duration_seconds_bucket[{w}])))"),
]
BREAKDOWNS = [
    ("analyze_by_provider", "Analyze calls by LLM provider", "provider",
     "sum by (provider) (increase(ultraai_analyze_total[{w}]))"),
    ("errors_by_endpoint", "5xx responses by endpoint", "endpoint",
     "sum by (endpoint) (increase(ultraai_http_errors_total[{w}]))"),
    ("requests_by_host", "Requests by host", "instance",
     'sum by (instance) (increase(ultraai_http_requests_total{{job="app"}}[{w}]))'),
]
SERIES = [
    ("request_rate", "Request rate (req/s)", "performance", "sum(rate(ultraai_http_requests_total[1m]))", None),
    ("latency", "Latency (s)", "performance", [
        ("p50", "histogram_quantile(0.5, sum by (le) (rate(ultraai_http_request_duration_seconds_bucket[1m])))"),
        ("p99", "histogram_quantile(0.99, sum by (le) (rate(ultraai_http_request_duration_seconds_bucket[1m])))")],
     None),
    ("cpu_busy", "CPU busy per host (share of all cores)", "performance",
     '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))', "instance"),
    ("memory_used", "Memory used per host (share)", "performance",
     "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "instance"),
    ("requests_per_day", "Requests per day", "usage", "sum(increase(ultraai_http_requests_total[1d]))", None),
    ("uploads_per_day", "Uploads per day", "usage", "sum(increase(ultraai_uploads_total[1d]))", None),
    ("errors_rate", "5xx per second by endpoint", "errors",
     "sum by (endpoint) (rate(ultraai_http_errors_total[1m]))", "endpoint"),
]


class ReportError(Exception):
    pass


def seconds(text):
    try:
        return int(text[:-1]) * UNITS[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise ReportError("window and step must be a number and a unit of s, m, h, d or w (got %r)" % text) from None


class Prometheus:
    def __init__(self, url, timeout=30):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path, **params):
        url = "%s%s?%s" % (self.url, path, urllib.parse.urlencode(params))
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as res:
                body = json.load(res)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ReportError("cannot query Prometheus at %s: %s" % (self.url, exc)) from None
        if body.get("status") != "success":
            raise ReportError("Prometheus refused %s: %s" % (path, body.get("error", body)))
        return body["data"]

    def instant(self, expr, at):
        return self.get("/api/v1/query", query=expr, time="%.3f" % at)["result"]

    def range(self, expr, start, end, step):
        return self.get("/api/v1/query_range", query=expr, start="%.3f" % start, end="%.3f" % end,
                        step=step)["result"]


def number(result):
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value  # NaN (no requests) -> None


def plot(path, title, lines, ylabel, span=None):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for label, points in lines:
        xs = [datetime.datetime.fromtimestamp(t, datetime.timezone.utc) for t, v in points]
        # A young Prometheus may give one point: draw markers so it shows.
        ax.plot(xs, [v for t, v in points], label=label, linewidth=1.5, marker="o" if len(points) < 3 else None)
    if span:
        ax.set_xlim(*[datetime.datetime.fromtimestamp(t, datetime.timezone.utc) for t in span])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if len(lines) > 1:
        ax.legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def collect(prom, end, window, step):
    wsec = seconds(window)
    start = end - wsec
    data = {"end": end, "start": start, "window": window, "step": step, "totals": {}, "breakdowns": {},
            "series": {}, "alerts": [], "queries": {}}
    for key, label, expr in TOTALS:
        q = expr.format(w=window)
        data["queries"][key] = q
        data["totals"][key] = {"label": label, "value": number(prom.instant(q, end))}
    for key, label, by, expr in BREAKDOWNS:
        q = expr.format(w=window)
        data["queries"][key] = q
        rows = {r["metric"].get(by, "(none)"): float(r["value"][1]) for r in prom.instant(q, end)}
        data["breakdowns"][key] = {"label": label, "by": by, "rows": dict(sorted(rows.items()))}
    for key, label, section, exprs, by in SERIES:
        lines = []
        daily = key.endswith("_per_day")
        for name, q in (exprs if isinstance(exprs, list) else [(None, exprs)]):
            data["queries"]["%s%s" % (key, "." + name if name else "")] = q
            res = prom.range(q, start if not daily else end - max(wsec, 86400), end, "1d" if daily else step)
            for r in res:
                points = [(float(t), float(v)) for t, v in r["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if points:
                    lines.append((name or r["metric"].get(by, key) if by else name or label, points))
        data["series"][key] = {"label": label, "section": section, "lines": lines}
    # Any firing sample within each step (a short alert falls between steps,
    # and a resolved one ends with a stale marker).
    q = 'max_over_time(ALERTS{alertstate="firing"}[%s])' % step
    data["queries"]["alert_history"] = q
    for r in prom.range(q, start, end, step):
        stamps = [float(t) for t, v in r["values"]]
        m = r["metric"]
        data["alerts"].append({"alertname": m.get("alertname", ""), "instance": m.get("instance", ""),
                               "severity": m.get("severity", ""), "first": min(stamps), "last": max(stamps)})
    data["alerts"].sort(key=lambda a: a["first"])
    build = prom.get("/api/v1/status/tsdb")
    data["tsdb_series"] = build.get("headStats", {}).get("numSeries")
    return data


def fmt(value):
    if value is None:
        return "no data"
    return "%.4g" % value if abs(value) < 1000 else "%d" % round(value)


def when(stamp):
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(data, outdir):
    sections = {"performance": [], "usage": [], "errors": []}
    plots = []
    for key, s in data["series"].items():
        if not s["lines"]:
            sections[s["section"]].append('<p class="empty">%s: no data in this window.</p>' % html.escape(s["label"]))
            continue
        name = "%s.png" % key
        plot(os.path.join(outdir, name), s["label"], s["lines"], "",
             (data["end"] - max(seconds(data["window"]), 86400), data["end"] + 3600) if key.endswith("_per_day")
             else None)
        plots.append(name)
        with open(os.path.join(outdir, name), "rb") as f:
            uri = base64.b64encode(f.read()).decode()
        sections[s["section"]].append('<figure><img alt="%s" data-plot="%s" src="data:image/png;base64,%s"></figure>'
                                      % (html.escape(s["label"]), key, uri))

    def table(keys):
        rows = "".join('<tr><th>%s</th><td data-key="%s">%s</td></tr>' % (
            html.escape(data["totals"][k]["label"]), k, fmt(data["totals"][k]["value"])) for k in keys)
        return "<table>%s</table>" % rows

    def breakdown(key):
        b = data["breakdowns"][key]
        if not b["rows"]:
            return '<p class="empty">%s: none in this window.</p>' % html.escape(b["label"])
        rows = "".join('<tr><th>%s</th><td data-key="%s" data-label="%s">%s</td></tr>' % (
            html.escape(k), key, html.escape(k), fmt(v)) for k, v in b["rows"].items())
        return "<h3>%s</h3><table>%s</table>" % (html.escape(b["label"]), rows)

    sections["performance"].insert(0, table(["latency_p50_seconds", "latency_p99_seconds"]))
    sections["usage"].insert(0, table(["requests_total", "uploads_total", "analyze_total"]) +
                             breakdown("analyze_by_provider") + breakdown("requests_by_host"))
    sections["errors"].insert(0, table(["errors_5xx_total"]) + breakdown("errors_by_endpoint"))
    if data["alerts"]:
        rows = "".join("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            html.escape(a["alertname"]), html.escape(a["instance"]), html.escape(a["severity"]),
            when(a["first"]), when(a["last"])) for a in data["alerts"])
        sections["errors"].append("<h3>Alert history</h3><table><tr><th>alert</th><th>instance</th><th>severity</th>"
                                  "<th>first seen firing</th><th>last seen firing</th></tr>%s</table>" % rows)
    else:
        sections["errors"].append('<h3>Alert history</h3><p class="empty">No alert fired in this window.</p>')
    young = data["totals"]["requests_total"]["value"] is None
    notice = ('<p class="notice">Prometheus has no request data for this window: it is empty or younger than '
              'the window, or the app has not been scraped yet. The figures below say "no data" where that '
              'is so.</p>' if young else "")
    page = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>UltraAI monitoring report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:.5em 0}}
th,td{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}img{{max-width:100%}}
.notice{{background:#fff3cd;padding:.5em}}.empty{{color:#666}}</style>
<script>
window.addEventListener("load", function () {{
  var imgs = document.querySelectorAll("img[data-plot]");
  var ok = Array.prototype.filter.call(imgs, function (i) {{ return i.complete && i.naturalWidth > 0; }});
  document.body.setAttribute("data-plots", imgs.length);
  document.body.setAttribute("data-plots-rendered", ok.length);
}});
</script></head>
<body><h1>UltraAI monitoring report</h1>
<p>Window: <span id="window">{window}</span>, from {start} to <span id="end" data-end="{endts}">{end}</span>.</p>
{notice}
<h2>Performance</h2>{perf}
<h2>Usage</h2>{usage}
<h2>Errors</h2>{errors}
</body></html>
""".format(window=html.escape(data["window"]), start=when(data["start"]), end=when(data["end"]),
           endts="%.3f" % data["end"], notice=notice, perf="\n".join(sections["performance"]),
           usage="\n".join(sections["usage"]), errors="\n".join(sections["errors"]))
    with open(os.path.join(outdir, "index.html"), "w", encoding="utf-8") as f:
        f.write(page)
    data["plots"] = plots
    data["young"] = young
    with open(os.path.join(outdir, "report.json"), "w", encoding="utf-8") as f:
        json.dump({k: v for k, v in data.items() if k != "series"}, f, indent=2, sort_keys=True)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="Prometheus base URL")
    parser.add_argument("--window", default="24h", help="time window ending now (or at --end): 30m, 24h, 7d")
    parser.add_argument("--step", default="60s", help="resolution of the plots")
    parser.add_argument("--end", type=float, help="end of the window (Unix time; default now)")
    parser.add_argument("--output", required=True, help="directory for index.html, the PNGs and report.json")
    args = parser.parse_args(argv)
    try:
        seconds(args.window)
        seconds(args.step)
        end = args.end or datetime.datetime.now(datetime.timezone.utc).timestamp()
        os.makedirs(args.output, exist_ok=True)
        data = render(collect(Prometheus(args.url), end, args.window, args.step), args.output)
    except ReportError as exc:
        print("report failed: %s" % exc, file=sys.stderr)
        return 2
    print(json.dumps({"output": os.path.abspath(args.output), "plots": data["plots"], "young": data["young"],
                      "requests_total": data["totals"]["requests_total"]["value"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
