"""The /status page: the status snapshot as plain server-rendered HTML, readable on a phone.

No JavaScript. Every number shown carries ``data-k`` (its path in /api/v1/status) and ``data-v`` (the value
there), so the page can be checked against the API. Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
*{box-sizing:border-box}body{font:15px/1.4 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:0;
background:#f4f5f7;color:#1d2430}header{background:#1d2430;color:#fff;padding:.8rem 1rem}
header h1{font-size:1.15rem;margin:0}header p{margin:.2rem 0 0;font-size:.85rem;color:#c8ccd4}
main{padding:.6rem;display:grid;gap:.6rem;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr))}
section{background:#fff;border-radius:.5rem;padding:.7rem .9rem;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:0}
h2{font-size:1rem;margin:0 0 .5rem}.nums{display:grid;grid-template-columns:repeat(auto-fit,minmax(6.5rem,1fr));
gap:.4rem}.num{background:#f4f5f7;border-radius:.4rem;padding:.35rem .5rem}.num b{display:block;font-size:1.3rem}
.num span{font-size:.78rem;color:#5b6472}table{border-collapse:collapse;width:100%;font-size:.85rem}
.scroll{overflow-x:auto}th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #e3e6ea;
white-space:nowrap}th{color:#5b6472;font-weight:600}.ok{color:#146c2e}.bad{color:#b42318}.warn{color:#9a6700}
.badge{display:inline-block;border-radius:1rem;padding:0 .55rem;font-size:.8rem;font-weight:600;margin-right:.3rem}
.badge.ok{background:#dcf5e3}.badge.bad{background:#fde4e1}.bar{display:inline-block;height:.6rem;
background:#5b8def;border-radius:.2rem;vertical-align:middle}.bar.out{background:#34a853}.muted{color:#5b6472}
footer{padding:.5rem 1rem 1rem;font-size:.8rem;color:#5b6472}footer a{color:#33548f;margin-right:.8rem}
form.admin{margin-top:.5rem;display:flex;gap:.4rem;flex-wrap:wrap}form.admin input[type=password]{flex:1;
min-width:8rem}td.wrap{white-space:normal;min-width:7rem;overflow-wrap:anywhere}
@media (min-width:62rem){section.wide{grid-column:span 2}}
"""


def _get(data: dict[str, Any], path: str) -> Any:
    v: Any = data
    for part in path.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def _num(data: dict[str, Any], path: str, label: str, shown: str | None = None) -> str:
    v = _get(data, path)
    text = shown if shown is not None else ("–" if v is None else str(v))
    return (
        f'<div class="num"><b data-k="{escape(path)}" data-v="{escape(str(v))}">{escape(text)}</b>'
        f"<span>{escape(label)}</span></div>"
    )


def _cell(data: dict[str, Any], path: str, shown: str | None = None, cls: str = "") -> str:
    v = _get(data, path)
    text = shown if shown is not None else ("" if v is None else str(v))
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-k="{escape(path)}" data-v="{escape(str(v))}">{escape(text)}</td>'


def human_bytes(count: int | None) -> str:
    if count is None:
        return "–"
    n = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # pragma: no cover


def short_time(t: str | None, now: str) -> str:
    """``HH:MM:SS`` for today (UTC), ``YYYY-MM-DD HH:MM`` otherwise; the full time is in ``data-v``."""
    if not t:
        return "–"
    return t[11:19] if t[:10] == now[:10] else f"{t[:10]} {t[11:16]}"


def human_age(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def _badge(ok: bool, yes: str, no: str) -> str:
    return f'<span class="badge {"ok" if ok else "bad"}">{escape(yes if ok else no)}</span>'


def _spool(d: dict[str, Any]) -> str:
    s = d["spool"]
    low = s["free_bytes"] is not None and s["free_bytes"] < 2 * s["min_free_bytes"]
    return (
        "<section><h2>Spool</h2><div class=nums>"
        + _num(d, "spool.waiting", "waiting")
        + _num(d, "spool.states.received", "received")
        + _num(d, "spool.states.claimed", "in work")
        + _num(d, "spool.states.retry_wait", "retry wait")
        + _num(d, "spool.oldest_waiting_seconds", "oldest waiting", human_age(s["oldest_waiting_seconds"]))
        + _num(d, "spool.free_bytes", "free space" + (" (low)" if low else ""), human_bytes(s["free_bytes"]))
        + _num(d, "spool.states.forwarded", "forwarded (kept 7 d)")
        + _num(d, "spool.states.quarantined", "quarantined (kept 7 d)")
        + "</div></section>"
    )


def _throughput(d: dict[str, Any]) -> str:
    t = d["throughput"]
    rows = []
    for key in t["windows"]:
        rows.append(
            f"<tr><th>{escape(key.replace('last_', 'last '))}</th>"
            + "".join(_cell(d, f"throughput.windows.{key}.{k}") for k in ("in", "out", "quarantined"))
            + "</tr>"
        )
    peak = max([1] + [max(m["in"], m["out"]) for m in t["per_minute"]])
    bars = []
    for i, m in enumerate(t["per_minute"]):
        w_in, w_out = 100 * m["in"] / peak, 100 * m["out"] / peak
        bars.append(
            f"<tr><td class=muted>-{m['minute']} min</td>"
            f'<td><span class=bar style="width:{w_in:.0f}px"></span> {_inline(d, f"throughput.per_minute.{i}.in")}'
            f'</td><td><span class="bar out" style="width:{w_out:.0f}px"></span> '
            f"{_inline(d, f'throughput.per_minute.{i}.out')}</td></tr>"
        )
    return (
        "<section><h2>Throughput</h2><div class=scroll><table><tr><th></th><th>in</th><th>out</th>"
        "<th>quarantined</th></tr>" + "".join(rows) + "</table></div>"
        "<details><summary class=muted>per minute</summary><div class=scroll><table><tr><th></th><th>in</th>"
        "<th>out</th></tr>" + "".join(bars) + "</table></div></details></section>"
    )


def _inline(d: dict[str, Any], path: str) -> str:
    v = _get(d, path)
    return f'<span data-k="{escape(path)}" data-v="{escape(str(v))}">{escape(str(v))}</span>'


def _destinations(d: dict[str, Any]) -> str:
    rows = []
    for i, x in enumerate(d["destinations"]):
        ok = x["state"] == "ok"
        state = {
            "ok": "ok",
            "backing_off": f"backing off until {short_time(x['backoff_until'], d['generated'])}",
            "retrying": "down, retrying",
        }.get(x["state"], x["state"])
        err = x.get("last_error") or {}
        err_text = ""
        if err:
            host, detail = str(err.get("host") or ""), str(err.get("detail") or "")
            cause = detail if host and host in detail else ": ".join(v for v in (host, detail) if v)
            err_text = f"{short_time(err.get('time'), d['generated'])} {err.get('code', '')} ({cause})"
        rows.append(
            "<tr>"
            + _cell(d, f"destinations.{i}.name")
            + _cell(d, f"destinations.{i}.state", state, "ok" if ok else "bad wrap")
            + f"<td class=wrap>{escape(err_text)}</td>"
            + _cell(d, f"destinations.{i}.target")
            + "</tr>"
        )
    return (
        "<section class=wide><h2>Destinations</h2><div class=scroll><table><tr><th>name</th><th>state</th>"
        "<th>last error</th><th>target</th></tr>" + "".join(rows) + "</table></div></section>"
    )


def _workers(d: dict[str, Any]) -> str:
    w = d["workers"]
    rows = []
    for i, p in enumerate(w["processes"]):
        rows.append(
            "<tr>"
            + _cell(d, f"workers.processes.{i}.slot")
            + _cell(d, f"workers.processes.{i}.pid")
            + _cell(d, f"workers.processes.{i}.alive", "alive" if p["alive"] else "down", "ok" if p["alive"] else "bad")
            + _cell(d, f"workers.processes.{i}.started", short_time(p["started"], d["generated"]))
            + _cell(d, f"workers.processes.{i}.restarts")
            + "</tr>"
        )
    recent = "".join(
        f"<li>{escape(short_time(r['time'], d['generated']))}: worker {escape(str(r['slot']))} "
        f"{escape(str(r['reason']))}"
        f" (exit {escape(str(r['exit_code']))})</li>"
        for r in w["recent_restarts"][:5]
    )
    return (
        "<section><h2>Workers</h2><div class=nums>"
        + _num(d, "workers.alive", "alive")
        + _num(d, "workers.configured", "configured")
        + _num(d, "workers.lanes", "lanes each")
        + _num(d, "workers.restarts", "restarts")
        + "</div><div class=scroll><table><tr><th>slot</th><th>pid</th><th>state</th><th>started</th>"
        "<th>restarts</th></tr>"
        + "".join(rows)
        + "</table></div>"
        + (f"<p class=muted>Recent restarts:</p><ul>{recent}</ul>" if recent else "")
        + "</section>"
    )


def _quarantine(d: dict[str, Any], admin: bool) -> str:
    q = d["quarantine"]
    rows = []
    for i, e in enumerate(q["recent"]):
        pick = f'<td><input type=checkbox name=id value="{escape(e["id"])}" aria-label="select"></td>' if admin else ""
        rows.append(
            "<tr>"
            + pick
            + _cell(d, f"quarantine.recent.{i}.time", short_time(e["time"], d["generated"]))
            + _cell(d, f"quarantine.recent.{i}.stage")
            + _cell(d, f"quarantine.recent.{i}.code")
            + _cell(d, f"quarantine.recent.{i}.id", e["id"][:8], "muted")
            + "</tr>"
        )
    table = (
        "<div class=scroll><table><tr>"
        + ("<th></th>" if admin else "")
        + "<th>time</th><th>stage</th><th>code</th><th>id</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )
    if admin and rows:
        table = (
            '<form method=post action="/api/v1/quarantine/retry">'
            + table
            + '<div class=admin style="display:flex;gap:.4rem;flex-wrap:wrap;margin-top:.5rem">'
            '<input type=password name=token placeholder="admin token" autocomplete=off>'
            "<button>Retry</button>"
            '<button formaction="/api/v1/quarantine/purge">Purge</button></div></form>'
        )
    return (
        "<section><h2>Quarantine</h2><div class=nums>"
        + _num(d, "quarantine.total", "entries")
        + "</div><p class=muted>Newest first; stage and reason code only (<code>deidnode quarantine show ID"
        "</code> for the rest).</p>" + table + "</section>"
    )


def render(d: dict[str, Any], *, admin: bool = False, refresh_seconds: int = 10, notice: str = "") -> str:
    """The whole page for snapshot ``d`` (``NodeStatus.snapshot()``)."""
    n, v = d["node"], d["versions"]
    versions = ", ".join(f"{k} {val}" for k, val in v.items())
    notice_html = f'<p class="badge ok">{escape(notice)}</p>' if notice else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<meta http-equiv=refresh content="{refresh_seconds}">'
        f"<title>deidnode {escape(n['ae_title'])}</title><style>{CSS}</style></head><body>"
        f'<header><h1>deidnode <span data-k=node.ae_title data-v="{escape(n["ae_title"])}">'
        f"{escape(n['ae_title'])}</span> :{escape(str(n['port']))}</h1><p>"
        + _badge(n["healthy"], "healthy", "unhealthy")
        + _badge(n["ready"], "ready", "not ready")
        + f" up {escape(human_age(n['uptime_seconds']))} · {escape(str(n['active_associations']))} associations"
        f" · {escape(short_time(d['generated'], d['generated']))} UTC</p><p>{escape(versions)}</p>{notice_html}"
        "</header><main>"
        + _spool(d)
        + _destinations(d)
        + _throughput(d)
        + _workers(d)
        + _quarantine(d, admin)
        + "</main><footer><a href=/api/v1/status>/api/v1/status</a><a href=/metrics>/metrics</a>"
        "<a href=/healthz>/healthz</a><a href=/readyz>/readyz</a></footer></body></html>"
    )
