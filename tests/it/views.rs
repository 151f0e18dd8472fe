//! The views people look at, looked at: `report.html` opened in real headless Chromium (no
//! console errors, the counts shown equal `findings.csv`, the search box filters, a hostile
//! display name stays text; a screenshot is kept under `target/test-artifacts/`), the workbook
//! rendered by LibreOffice to PDF (landscape, one page wide), its layout read back with
//! calamine, and `summary.md` appended to a CI job summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{Data, Reader};
use serde_json::Value;

use crate::common::{copy_tree, entra_drift, fixture, open_xlsx, read_csv, run_dir_of, Output};

const HOSTILE: &str = "<script>alert('owned')</script> & \"Co\"";
/// Looks like a packed GUID of the page's compact encoding: must come out as itself.
const TILDE: &str = "~AAAAAAAAAAAAAAAAAAAA_w";

/// Contoso with one user renamed to markup, audited; returns the run folder.
fn hostile_run(work: &Path, extra_env: &[(&str, &Path)]) -> PathBuf {
    let tenant = work.join("tenant");
    copy_tree(&fixture("contoso-core"), &tenant);
    let path = tenant.join("users.json");
    let mut users: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // The user of a missing_access finding (751bd151...).
    for user in users["value"].as_array_mut().unwrap() {
        if user["id"] == "284e3a3c-fb91-48bf-bad1-74c3685d7d3a" {
            user["displayName"] = Value::String(HOSTILE.into());
        }
        if user["id"] == "cf0184e3-973d-4bcd-9304-1f4586389975" {
            user["displayName"] = Value::String(TILDE.into());
        }
    }
    std::fs::write(&path, serde_json::to_string(&users).unwrap()).unwrap();
    let out = work.join("out");
    let mut command = entra_drift();
    command
        .args(["audit", "--tenant-dir"])
        .arg(&tenant)
        .arg("--out")
        .arg(&out);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let output = Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    run_dir_of(&output, &out)
}

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(found) = which(name) {
            return found;
        }
    }
    panic!(
        "the browser tests need Chromium (`bash tests/run` installs the Debian package `chromium`)"
    );
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium on a file URL; its own profile so parallel runs do not share one.
fn browser(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The page's own self-check (`#selftest=<query>`), read from the dumped DOM, and the DOM.
fn selftest(page: &Path, query: &str, profile: &Path) -> (Value, String, String) {
    let url = format!("file://{}#selftest={query}", page.display());
    let output = browser(profile)
        .args([
            "--window-size=1366,900",
            "--virtual-time-budget=8000",
            "--dump-dom",
        ])
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let start = dom
        .find("id=\"selftest\">")
        .unwrap_or_else(|| panic!("no #selftest in the DOM; stderr:\n{stderr}"))
        + "id=\"selftest\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (serde_json::from_str(&json).unwrap(), dom, stderr)
}

#[test]
fn the_dashboard_shows_what_the_csv_holds_in_a_real_browser() {
    let work = tempfile::tempdir().unwrap();
    let run = hostile_run(work.path(), &[]);
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script>alert"),
        "the name is escaped in the file"
    );
    // Self-contained: nothing is loaded from elsewhere (links to the admin center are links).
    for load in [
        "<script src",
        "rel=\"stylesheet\"",
        "@import",
        "url(http",
        "<img src=\"http",
        "<iframe",
    ] {
        assert!(!html.contains(load), "the page loads `{load}`");
    }

    let findings = read_csv(&run.join("findings.csv"));
    let mut per_category: BTreeMap<String, u64> = BTreeMap::new();
    for row in &findings.rows {
        *per_category.entry(row["category"].clone()).or_default() += 1;
    }
    let profile = work.path().join("profile");
    let (report, dom, stderr) = selftest(&page, "alert", &profile);
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
    assert_fits(&report, "contoso");
    for category in entra_drift::audit::CATEGORIES {
        let expected = per_category.get(category).copied().unwrap_or(0);
        assert_eq!(
            report["cards"][category], expected,
            "card {category}: {report}"
        );
        assert_eq!(
            report["rows"][category], expected,
            "rows {category}: {report}"
        );
    }
    assert_eq!(report["total"], findings.rows.len() as u64);
    let hostile_rows = findings
        .rows
        .iter()
        .filter(|r| r["user_display_name"] == HOSTILE)
        .count() as u64;
    assert!(hostile_rows > 0);
    assert_eq!(report["search"]["matches"], hostile_rows, "{report}");
    // The markup is text in the page: escaped in the DOM, never run.
    assert!(dom.contains("&lt;script&gt;alert('owned')&lt;/script&gt;"));
    // Every id and name the CSV holds is in the rendered table, exactly (the page decodes its
    // compact data: GUIDs packed, values beginning with `~` escaped).
    for row in &findings.rows {
        for column in ["assignment_id", "user_id", "user_principal_name"] {
            assert!(
                dom.contains(&format!(">{}<", row[column])),
                "{column} {}",
                row[column]
            );
        }
    }
    assert!(dom.contains(&format!(">{TILDE}<")));
    for line in stderr.lines() {
        assert!(
            !(line.contains("Uncaught") || (line.contains("CONSOLE") && line.contains("rror"))),
            "console error: {line}"
        );
    }
    let (nothing, _, _) = selftest(&page, "no-such-finding-anywhere", &profile);
    assert_eq!(nothing["search"]["matches"], 0);

    let shot = artifacts().join("report.png");
    let status = browser(&profile)
        .args(["--window-size=1400,2000", "--hide-scrollbars"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(status.status.success());
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot"
    );
}

/// The page's layout as the self-check measured it at 1,366 px: nothing scrolls sideways, no
/// cell or chart label is cut, no two chart labels run into each other.
fn assert_fits(report: &Value, what: &str) {
    let layout = &report["layout"];
    assert_eq!(layout["width"], 1366, "{what}: {layout}");
    assert!(
        layout["page_overflow"].as_i64().unwrap() <= 0,
        "{what}: the page scrolls sideways: {layout}"
    );
    assert!(
        layout["table_overflow"].as_i64().unwrap() <= 0,
        "{what}: the table scrolls sideways: {layout}"
    );
    for list in ["cut_cells", "cut_labels", "overlapping_labels"] {
        assert_eq!(
            layout[list],
            Value::Array(vec![]),
            "{what}: {list}: {layout}"
        );
    }
    let shown: Vec<&str> = layout["shown_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for column in [
        "User",
        "Sign-in name",
        "Resource",
        "Role",
        "Reason code",
        "Cause",
        "Caused by",
    ] {
        assert!(
            shown.contains(&column),
            "{what}: {column} is shown: {shown:?}"
        );
    }
}

/// The dashboard of the sample and of a generated `medium` tenant (thousands of findings, long
/// names, four-digit counts) fits a 1,366 px screen: the table wraps instead of scrolling, the
/// charts' labels are whole and their ticks apart. The `large` tenant's counts are checked on
/// the charts' own ticks (`report::charts` unit tests).
#[test]
fn the_dashboard_fits_a_1366_px_screen() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("medium");
    let generated = entra_drift()
        .args([
            "generate", "--size", "medium", "--format", "snapshot", "--out",
        ])
        .arg(&tenant)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let run = audit_into(
        entra_drift().args(["audit", "--snapshot"]).arg(&tenant),
        &work.path().join("out"),
    );
    let profile = work.path().join("profile");
    let (report, _, _) = selftest(&run.join("report.html"), "zz-none", &profile);
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
    assert!(report["total"].as_u64().unwrap() > 1_000, "{report}");
    assert_fits(&report, "medium");
    // Every term of the page is defined on it.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for term in [
        "What to do next",
        "What the words mean",
        "not_held",
        "log_unreadable",
        "decide",
    ] {
        assert!(html.contains(term), "{term}");
    }
}

/// Runs an audit writing into `out`; its run folder.
fn audit_into(command: &mut assert_cmd::Command, out: &Path) -> PathBuf {
    let output = command.arg("--out").arg(out).output().unwrap();
    let output = Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    run_dir_of(&output, out)
}

/// `pdftotext -bbox` of a PDF: per page, each word and its height in points.
fn pdf_words(pdf: &Path) -> Vec<Vec<(String, f64)>> {
    let output = Command::new("pdftotext")
        .arg("-bbox")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by `bash tests/run`");
    let html = String::from_utf8(output.stdout).unwrap();
    let number = |word: &str, name: &str| -> f64 {
        let start = word.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + word[start..].find('"').unwrap();
        word[start..end].parse().unwrap()
    };
    html.split("<page ")
        .skip(1)
        .map(|page| {
            page.split("<word ")
                .skip(1)
                .map(|word| {
                    let text = &word[word.find('>').unwrap() + 1..word.find("</word>").unwrap()];
                    let height = number(word, "yMax") - number(word, "yMin");
                    let text = text
                        .replace("&apos;", "'")
                        .replace("&quot;", "\"")
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&");
                    (text, height)
                })
                .collect()
        })
        .collect()
}

/// The workbook printed by LibreOffice: every page of every sheet has text of 8 pt or more
/// (the report of the issue measured 1.7 pt), the category sheets print who, what is wrong and
/// where it stands, and leave the ids on screen; the Read me sheet defines the words.
#[test]
fn the_printed_workbook_is_readable_on_every_page() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant");
    copy_tree(&fixture("contoso"), &tenant);
    let run = audit_into(
        entra_drift()
            .args(["audit", "--config"])
            .arg(fixture("contoso.toml"))
            .arg("--tenant-dir")
            .arg(&tenant),
        &work.path().join("out"),
    );
    let pdf_dir = work.path().join("pdf");
    let output = Command::new("soffice")
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(&pdf_dir)
        .arg(run.join("drift.xlsx"))
        .env("HOME", work.path())
        .output()
        .expect("LibreOffice (`soffice`) is installed by `bash tests/run`");
    let pdf = pdf_dir.join("drift.pdf");
    assert!(pdf.is_file(), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::copy(&pdf, artifacts().join("drift.pdf")).unwrap();
    let info =
        String::from_utf8(Command::new("pdfinfo").arg(&pdf).output().unwrap().stdout).unwrap();
    let size = info.lines().find(|l| l.starts_with("Page size:")).unwrap();
    let numbers: Vec<f64> = size
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers[0] > numbers[1], "landscape: {size}");

    let pages = pdf_words(&pdf);
    assert!(pages.len() >= 8, "{} pages", pages.len());
    for (number, words) in (1..).zip(&pages) {
        let (smallest, height) = words
            .iter()
            .filter(|(text, _)| !text.trim().is_empty())
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or_else(|| panic!("page {number} is empty"));
        assert!(
            *height >= 8.0,
            "page {number}: `{smallest}` is {height:.2} pt tall"
        );
    }
    let text = |words: &Vec<(String, f64)>| {
        words
            .iter()
            .map(|(w, _)| w.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let texts: Vec<String> = pages.iter().map(text).collect();
    let find = |needle: &str| {
        texts
            .iter()
            .position(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no page says `{needle}`"))
    };
    let summary = &texts[0];
    for expected in [
        "entra-drift access drift report",
        "Waiting for",
        "A reviewer",
        "The approvers",
        &format!("Page 1 of {}", pages.len()),
    ] {
        assert!(summary.contains(expected), "{expected}: {summary}");
    }
    // The Read me defines every word a reviewer meets.
    let read_me: String = texts[find("How to read this workbook")..].join(" ");
    for term in [
        "unverifiable",
        "not_held",
        "log_unreadable",
        "decide",
        "access_without_assignment",
        "persisting",
        "outside_directory_log",
        "Plan note",
        "plan_skip_reason",
    ] {
        assert!(read_me.contains(term), "the Read me defines `{term}`");
    }
    // A category page prints the people and the sentence, first to last printed column, and
    // leaves the ids to the screen.
    let missing = &texts[find("Diego Siciliani lacks")];
    for heading in [
        "User",
        "Sign-in name",
        "What is wrong",
        "Plan note",
        "Caused by",
    ] {
        assert!(missing.contains(heading), "{heading}: {missing}");
    }
    for id_heading in ["Assignment id", "User id", "correlation"] {
        assert!(
            !missing.contains(id_heading),
            "{id_heading} printed: {missing}"
        );
    }
    // The Plan sheet is the last.
    let plan = texts.last().unwrap();
    for heading in [
        "Approve",
        "Action",
        "Reason for accepting",
        "User",
        "Roles",
        "Why",
    ] {
        assert!(plan.contains(heading), "{heading}: {plan}");
    }
    assert!(!plan.contains("Plan digest"), "{plan}");
}

#[test]
fn category_sheets_speak_words_put_people_first_and_keep_every_contract_column() {
    let work = tempfile::tempdir().unwrap();
    let run = hostile_run(work.path(), &[]);
    let mut workbook = open_xlsx(&run.join("drift.xlsx"));
    let range = workbook.worksheet_range("Missing access").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        header[..12],
        [
            "User",
            "Sign-in name",
            "What is wrong",
            "Status",
            "Days open",
            "In plan",
            "Plan note",
            "Cause",
            "Caused by",
            "Access package",
            "Resource",
            "Role",
        ]
    );
    // Every contract column is on the sheet, under the heading the Read me pairs with it.
    let grid = crate::common::sheet_grid(&mut workbook, "Read me");
    let pairs: BTreeMap<String, String> = grid
        .iter()
        .map(|row| crate::common::row_texts(row))
        .filter(|row| row.len() >= 2)
        .map(|row| (row[1].clone(), row[0].clone()))
        .collect();
    for column in entra_drift::audit::col::REQUIRED {
        let heading = &pairs[column];
        assert!(
            header.contains(heading),
            "{column} as `{heading}` on the sheet"
        );
    }
    let days = header.iter().position(|h| h == "Days open").unwrap();
    let first = range.rows().nth(1).unwrap();
    assert!(
        matches!(first[days], Data::Float(_)),
        "days open is a number"
    );
    // The CSV keeps the contract's names, in the report order.
    let csv = read_csv(&run.join("findings.csv"));
    assert_eq!(csv.header[..7], entra_drift::audit::col::REQUIRED);
}

#[test]
fn summary_md_lands_on_the_ci_job_page() {
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("step-summary.md");
    std::fs::write(&page, "earlier step\n").unwrap();
    let run = hostile_run(work.path(), &[("GITHUB_STEP_SUMMARY", &page)]);
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    let appended = std::fs::read_to_string(&page).unwrap();
    assert!(
        appended.starts_with("earlier step\n"),
        "appended, not replaced"
    );
    assert!(appended.contains(&summary));
    assert!(
        summary.contains("| missing\\_access | 6 | 4 |"),
        "{summary}"
    );
    assert!(summary.contains("`report.html`"));
    assert!(!summary.contains("<script>"), "{summary}");
}

#[test]
fn the_dashboard_of_a_third_run_shows_the_trend_and_what_each_category_resolved() {
    let out = tempfile::tempdir().unwrap();
    let runs = crate::support::scheduled::trend_runs(out.path(), &[]);
    let html = std::fs::read_to_string(runs[2].join("report.html")).unwrap();
    assert!(
        !html.contains("The trend appears once there are two runs"),
        "the trend chart is drawn from index.csv"
    );
    let resolved = read_csv(&runs[2].join("resolved.csv"));
    for category in entra_drift::audit::CATEGORIES {
        let card = html
            .split("<li class=\"card\" data-category=\"")
            .find(|part| part.starts_with(&format!("{category}\"")))
            .unwrap_or_else(|| panic!("a card for {category}"));
        let shown = card
            .split("<dt>Resolved</dt><dd>")
            .nth(1)
            .and_then(|rest| rest.split("</dd>").next())
            .unwrap();
        let expected = resolved
            .rows
            .iter()
            .filter(|r| r["category"] == category)
            .count();
        assert_eq!(shown, expected.to_string(), "{category}");
    }
    // The trend chart's dates, counts and legend fit too.
    let profile = out.path().join("profile");
    let (report, _, _) = selftest(&runs[2].join("report.html"), "zz-none", &profile);
    assert_fits(&report, "third run");
}
