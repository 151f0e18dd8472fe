#!/usr/bin/env python3
"""Benchmarks of entra-drift, side by side, printed as a markdown table.

    python3 benches/run.py                  # small + large audits, Excel, DuckDB, e2e (large), live (medium)
    python3 benches/run.py --sizes large,xl --live-size large --no-naive --work /tmp/bench   # issue 15, in full
    python3 benches/run.py --no-build --sizes small --live-size small --no-naive --no-xlsx --e2e-sizes small
    python3 benches/run.py --duckdb-json DIR   # (helper) DuckDB's four counts of a tenant directory, as JSON

Everything runs on this machine in one session so the figures are comparable as ratios:
- audit of a stored snapshot (generated with known drift): wall time, peak memory (RSS), the
  joins alone, and accuracy against the generator's ground truth; at `xl` against issue 29's
  goals (audit ≤ 3 GiB and ≤ 15 s with the plan written; generation ≤ 6 GiB, issue 15's);
- the same joins in DuckDB over the same Parquet tables (needs `pip install duckdb`), as a
  ratio (goals: ≤ 1.0 at `large` and at `xl`);
- end to end from JSON (`--e2e-sizes`): `audit --tenant-dir` of a generated tenant directory
  (read the JSON, audit, reports) against DuckDB computing the same four counts from the same
  JSON files (benches/duckdb_json.sql), in a process of its own: time, peak memory, and whether
  DuckDB's counts equal the categories of entra-drift's findings.csv (goals: ≤ ×0.6 DuckDB's
  time and ≤ ×1.5 its memory at `large`, ≤ ×0.7 its time at `medium`);
- Excel writing of a findings table with a million-row category: time, peak memory;
- live snapshots against fake-graph with Graph's 8,000 RU / 10 s budget (`--live-budget`), for
  each latency (`--live-latencies`, ms) and assignment read strategy (`--live-strategies`,
  `--assignment-read chain|partitioned`): wall time, requests, resource units, throttled waits
  (checked against fake-graph's own count), against the lower bound (units / budget) and the
  cheapest strategy's lower bound (issue 15: ≤ 1.5× that bound and ≤ 30 s); one more run at a
  small tenant's 3,500 RU / 10 s with `auto`, where throttling binds; and a naive sequential,
  unbatched client (unless `--no-naive`) at the first latency.

`--work DIR` keeps the generated tenants and snapshots between runs (large ones take minutes to
generate); `--no-build` uses the release binaries as they are.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
BIN = RELEASE / "entra-drift"
FAKE = RELEASE / "fake-graph"
# Issue 29's goals. Audit of a stored snapshot, plan written: (seconds, MiB); generation: MiB
# (issue 15); the core joins against DuckDB's: the highest ratio entra-drift / DuckDB; end to end
# from JSON against DuckDB's read_json: the highest ratios (time, memory).
AUDIT_GOALS = {"xl": (15, 3072)}
GENERATE_GOALS = {"xl": 6144}
DUCKDB_GOALS = {"large": 1.0, "xl": 1.0}
E2E_GOALS = {"large": (0.6, 1.5), "medium": (0.7, None)}
# The live snapshot: at most this many times the cheapest strategy's lower bound, and seconds.
LIVE_GOAL_RATIO, LIVE_GOAL_SECONDS = 1.5, 30
# The four categories DuckDB counts, in the order of its counts.
CORE_CATEGORIES = ("missing_access", "resource_not_found", "unverifiable", "access_without_assignment")
KEY = ["category", "assignment_id", "access_package_id", "user_id", "resource_type", "resource_id", "role", "in_plan", "cause", "cause_actor"]


def log(message):
    print(message, file=sys.stderr, flush=True)


def met(ok):
    return "met" if ok else "MISSED"


def timed(command, env=None):
    """Runs a command under /usr/bin/time; returns (seconds, peak RSS MiB, stdout, stderr)."""
    started = time.monotonic()
    result = subprocess.run(["/usr/bin/time", "-f", "__PEAK_KB__ %M"] + command, capture_output=True, text=True, env=env)
    seconds = time.monotonic() - started
    if result.returncode not in (0, 2):
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-4000:]}")
    peak = int(re.search(r"__PEAK_KB__ (\d+)", result.stderr).group(1)) / 1024
    return seconds, peak, result.stdout, result.stderr


def rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return sorted(tuple(r[k] for k in KEY) for r in csv.DictReader(handle))


def logged_ms(stderr, message):
    for line in stderr.splitlines():
        if line.startswith("{") and f'"{message}"' in line:
            return json.loads(line)["fields"]["elapsed_ms"]
    return None


DUCKDB_SQL = """
WITH delivered AS (SELECT assignment_id, access_package_id, user_id FROM read_parquet('{d}/assignments.parquet') WHERE assignment_state = 'delivered'),
expected AS (SELECT d.*, r.resource_type, r.resource_id, r.role, r."collection" FROM delivered d JOIN read_parquet('{d}/package_roles.parquet') r USING (access_package_id)),
judged AS (SELECT e.*, s.read_status FROM expected e LEFT JOIN read_parquet('{d}/resource_status.parquet') s USING (resource_type, resource_id, "collection")),
holdings AS (SELECT * FROM read_parquet('{d}/holdings.parquet')),
missing AS (SELECT j.* FROM judged j WHERE j.user_id IS NOT NULL AND j.read_status = 'complete'
            AND NOT EXISTS (SELECT 1 FROM holdings h WHERE h.resource_type = j.resource_type AND h.resource_id = j.resource_id AND h.role = j.role AND h.user_id = j.user_id)),
complete_roles AS (SELECT DISTINCT r.resource_type, r.resource_id, r.role FROM read_parquet('{d}/package_roles.parquet') r
            JOIN read_parquet('{d}/resource_status.parquet') s USING (resource_type, resource_id, "collection") WHERE s.read_status = 'complete'),
explained AS (SELECT DISTINCT a.user_id, r.resource_type, r.resource_id, r.role FROM read_parquet('{d}/assignments.parquet') a
            JOIN read_parquet('{d}/package_roles.parquet') r USING (access_package_id)
            WHERE a.assignment_state IN ('delivered', 'delivering', 'partiallydelivered') AND a.user_id IS NOT NULL),
aww AS (SELECT h.user_id, h.resource_type, h.resource_id, h.role FROM holdings h
            WHERE (h.principal_type = 'user' OR (h.principal_type = 'unknown' AND h.user_id IN (SELECT user_id FROM read_parquet('{d}/users.parquet'))))
            AND EXISTS (SELECT 1 FROM complete_roles c WHERE c.resource_type = h.resource_type AND c.resource_id = h.resource_id AND c.role = h.role)
            AND NOT EXISTS (SELECT 1 FROM explained x WHERE x.user_id = h.user_id AND x.resource_type = h.resource_type AND x.resource_id = h.resource_id AND x.role = h.role))
SELECT (SELECT count(*) FROM missing) AS missing, (SELECT count(*) FROM judged WHERE read_status = 'not_found' AND user_id IS NOT NULL) AS not_found,
       (SELECT count(*) FROM judged WHERE read_status IS NULL OR read_status NOT IN ('complete', 'not_found') OR user_id IS NULL) AS unverifiable,
       (SELECT count(*) FROM aww) AS aww
"""


def duckdb_seconds(snapshot, repeats=3):
    try:
        import duckdb
    except ImportError:
        return None, None
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    best, counts = None, None
    for _ in range(repeats):
        started = time.monotonic()
        counts = con.execute(DUCKDB_SQL.format(d=snapshot)).fetchone()
        elapsed = time.monotonic() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, counts


def bench_audit(size, work, table):
    snapshot = work / f"snapshot-{size}"
    if not (snapshot / "snapshot.json").exists():
        log(f"generating {size} snapshot ...")
        seconds, peak, _, _ = timed([str(BIN), "-q", "generate", "--size", size, "--seed", "1", "--format", "snapshot", "--out", str(snapshot)])
        goal = GENERATE_GOALS.get(size)
        table.append((f"generate `{size}` (stored snapshot)", f"{seconds:.1f} s", f"{peak:.0f} MiB",
                      f"goal ≤ {goal / 1024:g} GiB: {met(peak <= goal)}" if goal else ""))
    log(f"auditing {size} ...")
    out = work / f"reports-{size}"
    seconds, peak, stdout, stderr = timed([str(BIN), "-v", "--log-format", "json", "audit", "--snapshot", str(snapshot), "--out", str(out)])
    run_dir = Path(stdout.strip())
    joins = logged_ms(stderr, "core joins done")
    whole = logged_ms(stderr, "audit done")
    truth = rows(snapshot / "ground-truth.csv")
    found = rows(run_dir / "findings.csv")
    accurate = "exact" if truth == found else f"DIFFERS ({len(set(truth) ^ set(found))} rows)"
    goal = AUDIT_GOALS.get(size)
    goal_note = (f"; goal ≤ {goal[1] / 1024:g} GiB and ≤ {goal[0]} s: {met(peak <= goal[1] and seconds <= goal[0])}" if goal else "")
    table.append((f"audit `{size}` from stored snapshot (read, joins, CSV, plan, xlsx, evidence)",
                  f"{seconds:.2f} s (core joins {joins / 1000:.2f} s; with names and texts {whole / 1000:.2f} s)" if joins and whole else f"{seconds:.2f} s",
                  f"{peak:.0f} MiB", f"{len(found)} findings; ground truth: {accurate}{goal_note}"))
    bench_html(size, run_dir, table)
    # The same audit without the audit log: what explaining every finding costs. Alternated,
    # best of three each, so that a busy moment of the machine does not decide the ratio.
    best = {}
    for _ in range(3):
        for flag in ("", "--no-causes"):
            args = [str(BIN), "-q", "audit", "--snapshot", str(snapshot), "--out", str(work / f"reports-{size}-pair")]
            if flag:
                args.insert(3, flag)
            run_seconds, run_peak, _, _ = timed(args)
            old = best.get(flag)
            best[flag] = (min(old[0], run_seconds), min(old[1], run_peak)) if old else (run_seconds, run_peak)
    (with_s, with_m), (bare_s, bare_m) = best[""], best["--no-causes"]
    events = json.loads((snapshot / "snapshot.json").read_text()).get("counts", {}).get("events", 0)
    table.append((f"causes `{size}`: the same audit with and without (`--no-causes`) the audit log ({events:,} events in the window); best of 3 each",
                  f"{with_s:.2f} s vs {bare_s:.2f} s → ×{with_s / bare_s:.2f}",
                  f"{with_m:.0f} vs {bare_m:.0f} MiB → ×{with_m / bare_m:.2f}",
                  "goal ≤ ×1.10 in time and memory: " + ("met" if with_s <= 1.10 * bare_s and with_m <= 1.10 * bare_m else "MISSED")))
    duck, counts = duckdb_seconds(snapshot)
    if duck is not None and joins:
        ratio = joins / 1000 / duck
        goal = DUCKDB_GOALS.get(size)
        table.append((f"same core joins in DuckDB {__import__('duckdb').__version__} (2 threads, Parquet in, counts out; best of 3), `{size}`", f"{duck:.2f} s", "",
                      f"ratio entra-drift core joins / DuckDB = {ratio:.2f}"
                      + (f" (goal ≤ {goal}: {met(ratio <= goal)})" if goal else "")
                      + f"; DuckDB counts (missing, not found, unverifiable, without assignment) {counts}: "
                      + ("counts agree" if tuple(counts) == tuple(sum(1 for r in found if r[0] == c) for c in CORE_CATEGORIES) else "COUNTS DIFFER")))
    return snapshot


def bench_html(size, run_dir, table):
    """report.html of the run: its size, and how long headless Chromium takes to load it,
    render the table and run the page's own self-check (search included)."""
    page = run_dir / "report.html"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not page.exists() or chromium is None:
        log("report.html or chromium missing: no HTML figure")
        return
    megabytes = page.stat().st_size / 1024 / 1024
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   f"--user-data-dir={profile}", "--dump-dom", f"file://{page}#selftest=zzzz"]
        started = time.monotonic()
        dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
        elapsed = time.monotonic() - started
    check = re.search(r'id="selftest">(.*?)</pre>', dom, re.S)
    ok = "self-check ran" if check else "NO self-check output"
    table.append((f"report.html `{size}`: size, and headless Chromium load + render + self-check (process start included)",
                  f"{elapsed:.2f} s", f"{megabytes:.2f} MB",
                  f"{ok}; " + html_goal(size, megabytes, elapsed)))


def html_goal(size, megabytes, elapsed):
    # Issue 13 set the page's goals for the `large` tenant; other sizes are measured against
    # its time alone (an `xl` page lists ten times the findings).
    if size == "large":
        return "goal < 5 MB and < 5 s: " + met(megabytes < 5 and elapsed < 5)
    return f"goal < 5 s (the 5 MB goal is `large`'s): {met(elapsed < 5)}"


def bench_xlsx(table):
    binary = sorted((RELEASE / "deps").glob("xlsx-*"), key=os.path.getmtime)
    binary = [b for b in binary if os.access(b, os.X_OK) and b.suffix == ""]
    if not binary:
        log("xlsx bench binary missing: cargo bench --bench xlsx --no-run")
        return
    results = {}
    for rows_count in (100_000, 1_100_000):
        seconds, peak, stdout, _ = timed([str(binary[-1]), str(rows_count)])
        _, write_seconds, size, before, after = stdout.strip().split(",")
        writer = float(after) - float(before)
        results[rows_count] = writer
        table.append((f"Excel writing, {rows_count:,} missing_access rows", f"{float(write_seconds):.1f} s", f"{peak:.0f} MiB",
                      f"findings table {float(before):.0f} MiB, writing adds {writer:.0f} MiB; {int(size) / 2**20:.0f} MiB file"
                      + ("; rows past 1,048,575 continue on a second sheet" if rows_count > 1_048_575 else "")))
    table.append(("Excel writer memory, 100k → 1.1M rows", "", f"{results[100_000]:.0f} → {results[1_100_000]:.0f} MiB",
                  "bounded: the category sheets stream (constant_memory); only ≤65,530 hyperlinks per sheet are kept"))


def ensure_tenant(size, work, table):
    """The generated tenant directory of `size` (seed 2), generated once per work folder."""
    tenant = work / f"tenant-{size}"
    if not (tenant / "tenant.json").exists():
        if tenant.exists():
            shutil.rmtree(tenant)
        log(f"generating {size} tenant directory ...")
        seconds, peak, _, _ = timed([str(BIN), "-q", "generate", "--size", size, "--seed", "2", "--out", str(tenant)])
        table.append((f"generate `{size}` (tenant directory, JSON)", f"{seconds:.1f} s", f"{peak:.0f} MiB", ""))
    return tenant


def start_fake(tenant_dir, work, latency, budget):
    ca = work / "fake-ca.pem"
    env = dict(os.environ, FAKE_GRAPH_CLIENT_SECRET="bench-secret")
    process = subprocess.Popen([str(FAKE), "--tenant-dir", str(tenant_dir), "--ca-out", str(ca), "--client-id", "bench",
                                "--latency-ms", str(latency), "--throttle-ru", str(budget), "--throttle-window-ms", "10000"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    ready = json.loads(process.stdout.readline())
    return process, ready["url"], ca


def fake_stats(url, ca):
    """What fake-graph itself counted (`GET /_fake/stats`): requests, RU, 429s served."""
    import ssl
    import urllib.request
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(f"{url}/_fake/stats", context=context, timeout=30) as response:
        return json.loads(response.read())


def assignment_read_supported():
    """Whether the binary has `snapshot --assignment-read` (older ones read the chain only)."""
    result = subprocess.run([str(BIN), "snapshot", "--help"], capture_output=True, text=True, check=True)
    return "--assignment-read" in result.stdout


def live_run(tenant, work, latency, budget, args=(), extra_env=None):
    """One live snapshot against a fresh fake-graph, into an empty run root (so that no earlier
    run's counts inform `auto`): (seconds, peak MiB, manifest graph, fake's stats)."""
    out = work / "live"
    shutil.rmtree(out, ignore_errors=True)
    process, url, ca = start_fake(tenant, work, latency, budget)
    try:
        tenant_id = json.loads((tenant / "tenant.json").read_text())["id"]
        env = dict(os.environ, SSL_CERT_FILE=str(ca), AZURE_CLIENT_ID="bench", AZURE_CLIENT_SECRET="bench-secret", **(extra_env or {}))
        seconds, peak, stdout, _ = timed([str(BIN), "-q", "snapshot", "--tenant", tenant_id, "--graph-url", url, "--authority-host", url,
                                          "--out", str(out)] + list(args), env=env)
        graph = json.loads((Path(stdout.strip()) / "snapshot.json").read_text())["graph"]
        return seconds, peak, graph, fake_stats(url, ca)
    finally:
        process.terminate()
        process.wait()


def live_counts(graph, stats, budget):
    """The notes every live row shares: requests, RU, throttled (against fake-graph's own count)
    and the RU lower bound (units / budget × 10 s)."""
    lower = graph["resource_units"] / budget * 10
    agrees = "agrees" if graph["throttled"] == stats.get("throttled") else f"DIFFERS: fake-graph served {stats.get('throttled')} 429s"
    used = f"read `{graph['assignment_read']}`; " if graph.get("assignment_read") else ""
    return lower, (f"{used}{graph['requests']} requests ({graph['batched_requests']} batched), {graph['resource_units']} RU, "
                   f"{graph['throttled']} throttled (fake-graph's count {agrees})")


def bench_live(size, work, table, naive, latencies, strategies, budget, small_budget=3500):
    tenant = ensure_tenant(size, work, table)
    if assignment_read_supported():
        variants = [(s, f"`--assignment-read {s}`", ["--assignment-read", s]) for s in strategies]
        auto = ("auto", "`--assignment-read auto`", ["--assignment-read", "auto"])
    else:
        log("the binary has no `snapshot --assignment-read`: one strategy only (whatever it reads)")
        variants = [("default", "(binary without --assignment-read)", [])]
        auto = ("default", "(binary without --assignment-read)", [])
    for index, latency in enumerate(latencies):
        runs = {}
        for key, label, args in variants:
            log(f"live snapshot of {size}: {latency} ms, {budget} RU / 10 s, {label} ...")
            runs[key] = (label,) + live_run(tenant, work, latency, budget, args)
        # The cheapest strategy bounds every strategy: no read of this tenant can spend fewer units.
        cheapest_key = min(runs, key=lambda k: runs[k][3]["resource_units"])
        cheapest = runs[cheapest_key][3]["resource_units"] / budget * 10
        for key, (label, seconds, peak, graph, stats) in runs.items():
            lower, notes = live_counts(graph, stats, budget)
            ratio = seconds / max(cheapest, 0.001)
            table.append((f"live snapshot `{size}`, {latency} ms latency, {budget:,} RU / 10 s, {label}", f"{seconds:.1f} s", f"{peak:.0f} MiB",
                          f"{notes}; RU lower bound {lower:.1f} s → ×{seconds / max(lower, 0.001):.2f}; "
                          f"cheapest strategy's bound {cheapest:.1f} s → ×{ratio:.2f}; "
                          f"goal ≤ ×{LIVE_GOAL_RATIO} that bound and ≤ {LIVE_GOAL_SECONDS} s: {met(ratio <= LIVE_GOAL_RATIO and seconds <= LIVE_GOAL_SECONDS)}"))
        pair = ("partitioned / chain time: " + f"{runs['partitioned'][1]:.1f} s / {runs['chain'][1]:.1f} s → ×{runs['partitioned'][1] / runs['chain'][1]:.2f}"
                if "partitioned" in runs and "chain" in runs else "")
        table.append((f"live snapshot `{size}`, {latency} ms latency: strategies compared", pair, "",
                      f"cheapest strategy `{cheapest_key}`: {runs[cheapest_key][3]['resource_units']} RU → RU lower bound {cheapest:.1f} s"))
        if index > 0:
            continue
        # A small tenant's budget: throttling binds, and the count of throttled waits must agree
        # with the 429s fake-graph served.
        key, label, args = auto
        log(f"live snapshot of {size}: {latency} ms, {small_budget} RU / 10 s, {label} ...")
        seconds, peak, graph, stats = live_run(tenant, work, latency, small_budget, args)
        lower, notes = live_counts(graph, stats, small_budget)
        table.append((f"live snapshot `{size}`, {latency} ms latency, {small_budget:,} RU / 10 s (a small tenant's budget), {label}",
                      f"{seconds:.1f} s", f"{peak:.0f} MiB", f"{notes}; RU lower bound {lower:.1f} s → ×{seconds / max(lower, 0.001):.2f}"))
        if naive:
            name = "naive client (sequential, unbatched)"
            log(f"live snapshot of {size}: {latency} ms, {budget} RU / 10 s, {name} ...")
            seconds, peak, graph, stats = live_run(tenant, work, latency, budget, ["--concurrency", "1"], {"ENTRA_DRIFT_NAIVE_CLIENT": "1"})
            lower, notes = live_counts(graph, stats, budget)
            table.append((f"live snapshot `{size}`, {latency} ms latency, {budget:,} RU / 10 s, {name}", f"{seconds:.1f} s", f"{peak:.0f} MiB",
                          f"{notes}; RU lower bound {lower:.1f} s → ×{seconds / max(lower, 0.001):.2f}"))


# DuckDB reads a tenant directory: the Graph fields the counts need, per source (benches/duckdb_json.sql).
JSON_SOURCES = {
    "packages": ("accessPackages.json", 'STRUCT(id VARCHAR, "resourceRoleScopes" STRUCT(role STRUCT("originId" VARCHAR, "originSystem" VARCHAR), scope STRUCT("originId" VARCHAR, "originSystem" VARCHAR))[])'),
    "assignments": ("assignments.json", 'STRUCT(id VARCHAR, state VARCHAR, target STRUCT("objectId" VARCHAR), "accessPackage" STRUCT(id VARCHAR))'),
    # The users' UPNs match the site users SharePoint gives no Entra object id.
    "users": ("users.json", 'STRUCT(id VARCHAR, "userPrincipalName" VARCHAR)'),
    "groups": ("groups.json", "STRUCT(id VARCHAR)"),
    "service_principals": ("servicePrincipals.json", "STRUCT(id VARCHAR)"),
    "members": ("groups/*/members.json", 'STRUCT("@odata.type" VARCHAR, id VARCHAR)'),
    "owners": ("groups/*/owners.json", 'STRUCT("@odata.type" VARCHAR, id VARCHAR)'),
    "app_roles": ("servicePrincipals/*/appRoleAssignedTo.json", 'STRUCT("appRoleId" VARCHAR, "principalId" VARCHAR, "principalType" VARCHAR)'),
    "role_assignments": ("roleAssignments.json", 'STRUCT("roleDefinitionId" VARCHAR, "principalId" VARCHAR, "directoryScopeId" VARCHAR, "memberType" VARCHAR)'),
    "role_eligibility": ("roleEligibilitySchedules.json", 'STRUCT("roleDefinitionId" VARCHAR, "principalId" VARCHAR, "directoryScopeId" VARCHAR, "memberType" VARCHAR)'),
    # SharePoint site groups (src/snapshot/sharepoint.rs): the sites, and their groups' users.
    "sharepoint_sites": ("sharepoint/sites.json", 'STRUCT(url VARCHAR, "key" VARCHAR, groups STRUCT("Id" BIGINT, "OnlyAllowMembersViewMembership" BOOLEAN, "CanCurrentUserViewMembership" BOOLEAN)[])'),
    "sharepoint_users": ("sharepoint/*/groups/*/users.json", 'STRUCT("PrincipalType" BIGINT, "LoginName" VARCHAR, "UserPrincipalName" VARCHAR, "AadObjectId" STRUCT("NameId" VARCHAR))'),
}


def duckdb_json_sql(tenant):
    """benches/duckdb_json.sql with its sources: read_json over each file (each is one Graph
    response body, `{"value": [...]}`, as one JSON object: maximum_object_size must hold the
    largest), or an empty relation when an optional file (or every per-resource file) is absent."""
    tenant = Path(tenant).resolve()
    largest = max(p.stat().st_size for p in tenant.rglob("*.json"))
    max_object = max(16 << 20, largest + (1 << 20))
    sources = {}
    for name, (pattern, struct) in JSON_SOURCES.items():
        per_resource = "*" in pattern
        if next(iter(tenant.glob(pattern)), None) is None:
            sources[name] = f"(SELECT NULL::{struct}[] AS value, NULL::VARCHAR AS filename WHERE false)"
            continue
        sources[name] = (f"read_json('{tenant}/{pattern}', format='auto', records=true, maximum_object_size={max_object}"
                         + (", filename=true" if per_resource else "") + f", columns={{value: '{struct}[]'}})")
    sources["active_recorded"] = str((tenant / "roleAssignments.json").exists()).lower()
    sources["eligible_recorded"] = str((tenant / "roleEligibilitySchedules.json").exists()).lower()
    sources["sharepoint_recorded"] = str((tenant / "sharepoint" / "sites.json").exists()).lower()
    return (ROOT / "benches" / "duckdb_json.sql").read_text(encoding="utf-8").format(**sources)


def duckdb_json(tenant):
    """`--duckdb-json DIR`: DuckDB's four counts of a tenant directory, run in a process of its
    own so that /usr/bin/time measures its peak memory. Prints one JSON object."""
    import duckdb
    started = time.monotonic()
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    counts = con.execute(duckdb_json_sql(tenant)).fetchone()
    print(json.dumps({"seconds": time.monotonic() - started, "counts": list(counts), "version": duckdb.__version__}))


def bench_e2e(size, work, table):
    """End to end from JSON: `audit --tenant-dir` (read, audit, reports) against DuckDB computing
    the same four counts from the same files."""
    tenant = ensure_tenant(size, work, table)
    files = list(tenant.rglob("*.json"))
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    log(f"auditing the {size} tenant directory ...")
    seconds, peak, stdout, stderr = timed([str(BIN), "-v", "--log-format", "json", "audit", "--tenant-dir", str(tenant), "--out", str(work / f"reports-e2e-{size}")])
    run_dir = Path(stdout.strip())
    joins = logged_ms(stderr, "core joins done")
    with open(run_dir / "findings.csv", newline="", encoding="utf-8") as handle:
        categories = [r["category"] for r in csv.DictReader(handle)]
    ours = tuple(categories.count(c) for c in CORE_CATEGORIES)
    truth = tenant / "ground-truth.csv"
    accurate = ""
    if truth.exists():
        same = rows(truth) == rows(run_dir / "findings.csv")
        accurate = "; ground truth: " + ("exact" if same else "DIFFERS")
    table.append((f"end to end from JSON `{size}`: `audit --tenant-dir` ({megabytes:,.0f} MiB in {len(files):,} JSON files; read, joins, CSV, plan, xlsx, html, evidence)",
                  f"{seconds:.2f} s (core joins {joins / 1000:.2f} s)" if joins else f"{seconds:.2f} s", f"{peak:.0f} MiB",
                  f"{len(categories)} findings{accurate}; counts (missing, not found, unverifiable, without assignment) {ours}"))
    try:
        import duckdb  # noqa: F401 (only whether it is installed)
    except ImportError:
        log("duckdb not installed: no DuckDB figure from JSON")
        return
    log(f"DuckDB over the {size} tenant directory ...")
    duck_seconds, duck_peak, duck_out, _ = timed([sys.executable, str(Path(__file__).resolve()), "--duckdb-json", str(tenant)])
    duck = json.loads(duck_out.strip().splitlines()[-1])
    counts = tuple(duck["counts"])
    agree = "counts agree" if counts == ours else "COUNTS DIFFER"
    table.append((f"same four counts in DuckDB {duck['version']} from the same JSON files (benches/duckdb_json.sql: read_json, 2 threads, counts out; own process, start included), `{size}`",
                  f"{duck_seconds:.2f} s (query {duck['seconds']:.2f} s)", f"{duck_peak:.0f} MiB",
                  f"DuckDB counts {counts}, entra-drift {ours}: {agree}; entra-drift / DuckDB: time ×{seconds / duck_seconds:.2f}, memory ×{peak / duck_peak:.2f}"
                  + e2e_goal(size, seconds / duck_seconds, peak / duck_peak)))


def e2e_goal(size, time_ratio, memory_ratio):
    """Issue 29's goal for the end-to-end ratios of `size`, if it has one."""
    goal = E2E_GOALS.get(size)
    if not goal:
        return ""
    time_goal, memory_goal = goal
    text = f"; goal ≤ ×{time_goal} time: {met(time_ratio <= time_goal)}"
    if memory_goal:
        text += f", ≤ ×{memory_goal} memory: {met(memory_ratio <= memory_goal)}"
    return text


def sizes(text):
    return [s for s in text.split(",") if s and s != "none"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small,large", help="audit sizes: small, large, xl")
    parser.add_argument("--e2e-sizes", default="large", help="sizes of the end-to-end benchmark from JSON (audit --tenant-dir vs DuckDB), or 'none'")
    parser.add_argument("--live-size", default="medium", help="size for the live snapshot benchmark, or 'none'")
    parser.add_argument("--live-latencies", default="50,150", help="fake-graph latencies (ms) of the live benchmark")
    parser.add_argument("--live-strategies", default="chain,partitioned", help="`--assignment-read` strategies of the live benchmark")
    parser.add_argument("--live-budget", type=int, default=8000, help="fake-graph's resource units per 10 s")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive client (slow)")
    parser.add_argument("--no-xlsx", action="store_true")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are (no cargo build)")
    parser.add_argument("--work", help="keep generated data here (default: a temporary folder)")
    parser.add_argument("--bin-dir", help="measure the binaries in this folder (entra-drift, fake-graph, deps/xlsx-*) "
                        "instead of target/release: an earlier build, side by side in the same session (implies --no-build)")
    parser.add_argument("--duckdb-json", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_json:
        duckdb_json(args.duckdb_json)
        return

    global RELEASE, BIN, FAKE
    if args.bin_dir:
        RELEASE = Path(args.bin_dir).resolve()
        BIN, FAKE = RELEASE / "entra-drift", RELEASE / "fake-graph"
        args.no_build = True
    if not args.no_build:
        log("building release binaries ...")
        subprocess.run(["cargo", "build", "--release", "--locked", "--bins"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "bench", "--locked", "--bench", "xlsx", "--no-run"], cwd=ROOT, check=True, capture_output=True)
    for binary in (BIN, FAKE):
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"{binary} missing: build it (cargo build --release --bins) or drop --no-build")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="entra-drift-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    table = []
    failed = []

    def attempt(name, bench):
        # One benchmark's failure is a row of the table, not the end of the others' rows.
        try:
            bench()
        except (SystemExit, Exception) as error:
            text = str(error).strip() or type(error).__name__
            log(f"{name} failed: {text}")
            table.append([name, "FAILED", "", text.splitlines()[0][:200].replace("|", "\\|")])
            failed.append(name)

    for size in sizes(args.sizes):
        attempt(f"audit `{size}`", lambda: bench_audit(size, work, table))
    for size in sizes(args.e2e_sizes):
        attempt(f"end to end `{size}`", lambda: bench_e2e(size, work, table))
    if not args.no_xlsx:
        attempt("Excel writer", lambda: bench_xlsx(table))
    if args.live_size != "none":
        latencies = [int(l) for l in args.live_latencies.split(",") if l]
        attempt(f"live `{args.live_size}`", lambda: bench_live(args.live_size, work, table, not args.no_naive, latencies,
                                                                 sizes(args.live_strategies), args.live_budget))

    print(f"| benchmark | time | peak memory | notes |\n|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    print(f"\n{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; work folder {work}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
