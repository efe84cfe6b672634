"""The status page's three files, rendered from a `StatusPage`: `index.html` (no script: it reads
the same in any browser and in a text one), `status.json` (Statuspage-like fields) and `feed.atom`
(one entry per public update). Pure functions: every text is escaped here."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from xml.sax.saxutils import escape as xml_escape

from bot.models.incidents import to_iso
from bot.models.statuspage import PublicIncident, StatusPage

FILES = {
    "index.html": "text/html; charset=utf-8",
    "status.json": "application/json",
    "feed.atom": "application/atom+xml",
}
_CSS = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.6rem}.banner{padding:1rem;border-radius:.4rem;font-weight:600;color:#fff}
.operational{background:#1a7f37}.degraded_performance{background:#bf8700}.partial_outage{background:#d1580b}
.major_outage{background:#cf222e}ul.components{list-style:none;padding:0}
ul.components li{display:flex;justify-content:space-between;padding:.6rem;border-bottom:1px solid #d0d7de}
.state{padding:.1rem .5rem;border-radius:.3rem;color:#fff;font-size:.9rem}
.incident{border:1px solid #d0d7de;border-radius:.4rem;padding:1rem;margin:1rem 0}
.update{margin:.6rem 0}.update .status{font-weight:600;text-transform:capitalize}
time{color:#57606a;font-size:.9rem}"""


def _when(moment: datetime | None) -> str:
    return to_iso(moment) if moment else ""


def _incident_html(incident: PublicIncident) -> str:
    updates = "".join(
        f'<div class="update" data-status="{escape(u.status)}"><span class="status">{escape(u.status)}</span>'
        f' <time datetime="{_when(u.at)}">{u.at:%Y-%m-%d %H:%M} UTC</time>'
        f'<p class="text">{escape(u.text)}</p></div>'
        for u in incident.updates
    )
    return (
        f'<article class="incident" id="{escape(incident.key)}" data-status="{escape(incident.status)}">'
        f"<h3>{escape(incident.name)}</h3>"
        f'<p class="when"><time datetime="{_when(incident.started_at)}">{incident.started_at:%Y-%m-%d %H:%M} UTC</time>'
        + (
            f' to <time datetime="{_when(incident.resolved_at)}">{incident.resolved_at:%Y-%m-%d %H:%M} UTC</time>'
            if incident.resolved_at
            else ""
        )
        + f"</p>{updates}</article>"
    )


def html(page: StatusPage) -> str:
    overall = page.overall
    banner = (
        "All systems operational"
        if overall.value == "operational"
        else f"{overall.label}: we are working on it"
    )
    components = "".join(
        f'<li class="component" id="component-{escape(c.id)}" data-state="{c.state.value}">'
        f'<span class="name">{escape(c.name)}</span>'
        f'<span class="state {c.state.value}">{escape(c.state.label)}</span></li>'
        for c in page.components
    )
    current = (
        "".join(_incident_html(i) for i in page.current)
        or "<p>No current incidents.</p>"
    )
    history = (
        "".join(_incident_html(i) for i in page.history) or "<p>No past incidents.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(page.service)} status</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="alternate" type="application/atom+xml" href="feed.atom">'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(page.service)} status</h1>"
        f'<div class="banner {overall.value}" id="overall">{escape(banner)}</div>'
        f'<h2>Components</h2><ul class="components">{components}</ul>'
        f'<h2>Current incidents</h2><section id="current">{current}</section>'
        f'<h2>Past incidents</h2><section id="history">{history}</section>'
        f'<footer><time datetime="{_when(page.generated_at)}">Updated {page.generated_at:%Y-%m-%d %H:%M:%S} UTC</time>'
        ' · <a href="status.json">JSON</a> · <a href="feed.atom">Atom feed</a></footer>'
        "</body></html>\n"
    )


def _incident_json(incident: PublicIncident) -> dict[str, object]:
    return {
        "id": incident.key,
        "name": incident.name,
        "status": incident.status,
        "impact": incident.impact.value,
        "components": incident.components,
        "started_at": _when(incident.started_at),
        "resolved_at": _when(incident.resolved_at) or None,
        "updates": [
            {"status": u.status, "body": u.text, "created_at": _when(u.at)}
            for u in incident.updates
        ],
    }


def status_json(page: StatusPage) -> str:
    document = {
        "page": {"name": page.service, "updated_at": _when(page.generated_at)},
        "status": {"indicator": page.overall.value},
        "components": [
            {"id": c.id, "name": c.name, "status": c.state.value}
            for c in page.components
        ],
        "incidents": [_incident_json(i) for i in page.current],
        "history": [_incident_json(i) for i in page.history],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


FEED_ID = "tag:warroom,2026:status"


def atom(page: StatusPage) -> str:
    entries = sorted(
        ((i, u) for i in [*page.current, *page.history] for u in i.updates),
        key=lambda pair: pair[1].at,
        reverse=True,
    )
    items = "".join(
        "<entry>"
        f"<id>{FEED_ID}:update-{u.id}</id>"
        f"<title>{xml_escape(f'{i.name}: {u.status}')}</title>"
        f"<updated>{_when(u.at)}</updated>"
        f'<link href="index.html#{xml_escape(i.key)}"/>'
        f'<content type="text">{xml_escape(u.text)}</content>'
        "</entry>"
        for i, u in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{FEED_ID}</id><title>{xml_escape(page.service)} status</title>"
        f"<updated>{_when(page.generated_at)}</updated>"
        '<link href="index.html"/><author><name>{xml_escape(page.service)}</name></author>'
        f"{items}</feed>\n"
    )


def render(page: StatusPage) -> dict[str, bytes]:
    """Every file of the page, by name (see FILES)."""
    return {
        "index.html": html(page).encode(),
        "status.json": status_json(page).encode(),
        "feed.atom": atom(page).encode(),
    }
