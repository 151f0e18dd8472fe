#!/usr/bin/env python3
"""Renders src/report/templates/report.html with a made-up run, to look at it in a browser
without the Rust build.

    python3 benches/html_preview.py /tmp/preview.html               # 2,000 findings
    python3 benches/html_preview.py /tmp/big.html --rows 50000      # the page's largest size
    python3 benches/html_preview.py /tmp/cut.html --total-rows 80000  # with the "first N of M" note
    chromium --headless=new --no-sandbox --dump-dom 'file:///tmp/preview.html#selftest=alert'

jinja2 with autoescape on treats the template as minijinja does (`{{ }}`, `{% for %}`,
`{% if %}`, `|length`, `|safe`); StrictUndefined fails on any name the Rust context lacks.
The sample holds hostile text (`<script>`, quotes, ampersands) in names, actors and ids.
"""
import argparse
import json
import random
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "src" / "report" / "templates"

CATEGORIES = [
    ("missing_access", "#C0392B"),
    ("resource_not_found", "#8E44AD"),
    ("unverifiable", "#7F8C8D"),
    ("not_delivered", "#D35400"),
    ("access_without_assignment", "#2471A3"),
]
# The same order and labels as COLUMNS in src/report/html.rs.
COLUMNS = [
    ("category", "Category"), ("status", "Status"), ("user_display_name", "User"),
    ("user_principal_name", "UPN"), ("user_enabled", "Enabled"),
    ("access_package_name", "Package"), ("resource_name", "Resource"), ("role_name", "Role"),
    ("detail", "Detail"), ("days_open", "Days open"), ("in_plan", "In plan"),
    ("plan_skip_reason", "Skip reason"), ("cause", "Cause"), ("cause_actor", "Caused by"),
    ("cause_time", "Cause time"), ("assignment_id", "Assignment id"),
    ("access_package_id", "Package id"), ("user_id", "User id"),
    ("resource_type", "Resource type"), ("resource_id", "Resource id"), ("role", "Role id"),
]
HOSTILE_NAME = '<script>alert(1)</script> "quotes" & ampersands'
PACKAGES = ["Finance – Payables", "Sales EMEA", "Engineering & Ops", "HR Partners",
            "Marketing \"Brand\" Team", "Project <Apollo>", "Contractors 2026", "Legal Review"]
RESOURCES = [("SharePoint Online Site", "Finance site"), ("AadGroup", "sg-sales-emea"),
             ("AadApplication", "Payroll app"), ("AadGroup", "sg-eng-all"),
             ("SharePoint Online Site", "HR hub")]
FIRST = ["Ada", "Bram", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustav", "Hiro", "Ines", "José"]
LAST = ["Lovelace", "de Vries", "Martin", "Petrov", "Kim", "Haddad", "Berg", "Tanaka", "O'Neil"]
ACTORS = [("svc-provisioning@contoso.com", "application"), ("alex.admin@contoso.com", "user"),
          ("<b>bold</b> & co", "user"), ("Lifecycle Workflows", "application")]


def guid(rng):
    return "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                          rng.getrandbits(16), rng.getrandbits(16),
                                          rng.getrandbits(48))


def script_safe(text):
    """What script_safe in html.rs does: the JSON can sit inside <script> unchanged."""
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def make_rows(count, rng):
    rows = []
    weights = [45, 12, 8, 15, 20]
    for n in range(count):
        category = rng.choices([c for c, _ in CATEGORIES], weights)[0]
        name = HOSTILE_NAME if n == 0 else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        upn = "x@contoso.com" if n == 0 else name.lower().replace(" ", ".").replace("'", "") + f"{n}@contoso.com"
        rtype, rname = rng.choice(RESOURCES)
        status = rng.choice(["new", "persisting", "persisting"])
        in_plan = "yes" if category in ("missing_access", "not_delivered") and rng.random() < .7 else "no"
        actor, _ = rng.choice(ACTORS) if rng.random() < .6 else ("", "")
        rows.append({
            "category": category, "status": status, "user_display_name": name,
            "user_principal_name": upn, "user_enabled": rng.choice(["true", "true", "false"]),
            "access_package_name": "" if category == "access_without_assignment" else rng.choice(PACKAGES),
            "resource_name": rname, "role_name": rng.choice(["Member", "Owner", "Reader"]),
            "detail": f"{category.replace('_', ' ')}: expected role on {rname} & not found",
            "days_open": str(rng.randint(0, 120)), "in_plan": in_plan,
            "plan_skip_reason": "" if in_plan == "yes" else rng.choice(["", "excepted: EX-12", "user disabled"]),
            "cause": "removed outside entitlement management" if actor else "",
            "cause_actor": actor,
            "cause_time": f"2026-11-{rng.randint(1, 29):02d}T{rng.randint(0, 23):02d}:15:00Z" if actor else "",
            "assignment_id": "" if category == "access_without_assignment" else guid(rng),
            "access_package_id": guid(rng), "user_id": guid(rng), "resource_type": rtype,
            "resource_id": guid(rng), "role": guid(rng),
        })
    return rows


def bars_svg(title, items):
    """A stand-in for plotters' horizontal bar chart (same size and colours)."""
    height = 60 + 34 * len(items)
    top = max([v for _, v, _ in items] + [1])
    parts = [f'<svg width="640" height="{height}" viewBox="0 0 640 {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="0" y="0" width="640" height="{height}" fill="#FFFFFF"/>',
             f'<text x="320" y="22" text-anchor="middle" font-family="sans-serif" font-size="16">{title}</text>']
    for i, (label, value, colour) in enumerate(items):
        y = 40 + 34 * i
        width = int(380 * value / top)
        label = label.replace("&", "&amp;").replace("<", "&lt;")
        parts.append(f'<text x="200" y="{y + 18}" text-anchor="end" font-family="sans-serif" font-size="13">{label}</text>')
        parts.append(f'<rect x="208" y="{y + 5}" width="{width}" height="24" fill="{colour}"/>')
        parts.append(f'<text x="{212 + width}" y="{y + 22}" font-family="sans-serif" font-size="13">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def trend_svg(series):
    runs = len(series[0][1])
    top = max(max(v) for _, v, _ in series) or 1
    parts = ['<svg width="640" height="300" viewBox="0 0 640 300" xmlns="http://www.w3.org/2000/svg">',
             '<rect x="0" y="0" width="640" height="300" fill="#FFFFFF"/>',
             '<text x="320" y="22" text-anchor="middle" font-family="sans-serif" font-size="16">Findings per run</text>',
             '<line x1="56" y1="260" x2="620" y2="260" stroke="#000"/><line x1="56" y1="40" x2="56" y2="260" stroke="#000"/>']
    for _, values, colour in series:
        points = " ".join(f"{56 + i * 564 / (runs - 1):.0f},{260 - 210 * v / top:.0f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
    parts.append("</svg>")
    return "".join(parts)


def context(rows, total_rows, rng):
    shown = len(rows)
    per = {c: [r for r in rows if r["category"] == c] for c, _ in CATEGORIES}
    # With a cut page the cards count the whole run, as the Rust side's summary does.
    scale = total_rows / max(shown, 1)
    categories = []
    for name, _ in CATEGORIES:
        found = per[name]
        categories.append({
            "name": name, "label": name.replace("_", " "),
            "findings": round(len(found) * scale),
            "new": sum(r["status"] == "new" for r in found),
            "persisting": sum(r["status"] == "persisting" for r in found),
            "resolved": 0,
            "excepted": sum(r["plan_skip_reason"].startswith("excepted:") for r in found),
            "in_plan": sum(r["in_plan"] == "yes" for r in found),
        })
    total = sum(c["findings"] for c in categories)
    packages = {}
    for r in per["missing_access"]:
        packages[r["access_package_name"]] = packages.get(r["access_package_name"], 0) + 1
    top = sorted(packages.items(), key=lambda kv: -kv[1])[:6]
    tenant_id = "a27b43c7-5f0e-4c1b-9a8e-3d2f1e0c9b8a"
    tenant = 'Contoso & "Partners" <Ltd>'
    keys = [k for k, _ in COLUMNS]
    return {
        "title": f"entra-drift — {tenant} ({tenant_id})",
        "tenant_name": tenant, "tenant_id": tenant_id,
        "taken_at": "2026-11-30 12:00:00 UTC", "generated_at": "2026-11-30 12:03:41 UTC",
        "source": "tenant directory fixtures/contoso-core", "run": "20261130T120000Z",
        "previous_run": "20261123T120000Z",
        "audit_log": "read from 2026-10-31T12:00:00Z to 2026-11-30T12:00:00Z",
        "plan_items": str(sum(c["in_plan"] for c in categories)),  # a string, as in html.rs
        "total": total, "categories": categories, "resolved": 37,
        "causes": [{"actor": a, "kind": k, "findings": rng.randint(3, 300)} for a, k in ACTORS],
        "exceptions_expiring": [
            {"id": "EX-12", "expires": "2026-12-05", "owner": "Jane <jane@contoso.com>"},
            {"id": "EX-19", "expires": "2026-12-11", "owner": "risk & compliance"},
        ],
        "chart_categories_svg": bars_svg("Findings per category", [
            (c["name"], c["findings"], colour) for c, (_, colour) in zip(categories, CATEGORIES)]),
        "chart_trend_svg": trend_svg([
            (name, [max(0, len(per[name]) + rng.randint(-40, 40)) for _ in range(6)], colour)
            for name, colour in CATEGORIES]),
        "chart_resources_svg": "",
        "chart_top_svg": bars_svg("Packages with most missing access",
                                  [(p or "(none)", n, "#C0392B") for p, n in top]),
        "columns": [{"key": k, "label": label} for k, label in COLUMNS],
        "rows_json": script_safe(json.dumps([[r[k] for k in keys] for r in rows], ensure_ascii=False)),
        "shown": shown, "total_rows": total_rows, "csv_name": "findings.csv",
        "admin_links": True,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="where to write the page")
    parser.add_argument("--rows", type=int, default=2000, help="findings embedded (default 2000)")
    parser.add_argument("--total-rows", type=int, help="findings in the CSV (default: --rows)")
    args = parser.parse_args()
    rng = random.Random(7)
    rows = make_rows(args.rows, rng)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    page = env.get_template("report.html").render(context(rows, max(args.total_rows or 0, args.rows), rng))
    Path(args.output).write_text(page, encoding="utf-8")
    print(f"wrote {args.output} ({len(page):,} bytes, {len(rows):,} findings)")


if __name__ == "__main__":
    main()
