//! The guide (`docs/`, an mdBook) and the README: the book builds, every link and anchor in it
//! and in the README resolves, nothing points into a folder a clone does not have, and the
//! reference pages that list flags and configuration keys match the code.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::project_root;

/// The pinned mdBook that `tests/run` provisions (or `$MDBOOK`).
fn mdbook() -> PathBuf {
    if let Some(path) = std::env::var_os("MDBOOK") {
        return PathBuf::from(path);
    }
    let pinned = project_root().join(".ci/tools/bin/mdbook");
    assert!(
        pinned.exists(),
        "mdBook is not provisioned: run `bash tests/run --provision` (it builds the pinned \
         mdBook into .ci/tools), or set MDBOOK to an mdbook 0.5 binary"
    );
    pinned
}

/// `docs/book`, built now (the default output folder: links from the book to the repository's
/// own files, `../../Dockerfile`, resolve from there as from `docs/src`).
fn build_book() -> PathBuf {
    let output = Command::new(mdbook())
        .args(["build", "docs"])
        .current_dir(project_root())
        .output()
        .expect("running mdbook");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mdbook build failed:\n{stderr}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("ERROR"),
        "mdbook warned:\n{stderr}"
    );
    project_root().join("docs/book")
}

fn files_with_extension(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_with_extension(&path, extension, found);
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
}

/// The values of `attribute="..."` in an HTML page.
fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let needle = format!(" {attribute}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

fn decode(text: &str) -> String {
    text.replace("&amp;", "&").replace("%20", " ")
}

/// Whether `target` (a path with an optional `#fragment`, relative to `from`'s folder)
/// exists and, for an HTML page, has an element with that id.
fn resolve(
    from: &Path,
    target: &str,
    ids: &mut HashMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    let (path, fragment) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap().join(decode(path))
    };
    if !file.exists() {
        return Err(format!("{} does not exist", file.display()));
    }
    let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
        return Ok(());
    };
    let file = file.canonicalize().unwrap();
    if file.extension().is_none_or(|e| e != "html") {
        return Err(format!("#{fragment} into a file that is not a page"));
    }
    let known = ids.entry(file.clone()).or_insert_with(|| {
        let html = std::fs::read_to_string(&file).unwrap();
        attribute_values(&html, "id")
            .into_iter()
            .map(str::to_string)
            .collect()
    });
    if known.contains(&decode(fragment)) {
        Ok(())
    } else {
        Err(format!("{} has no #{fragment}", file.display()))
    }
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:", "data:", "javascript:"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
}

/// Every link of the built book resolves; none points into `shared/`. Then the README's links,
/// its `.md` targets in the guide checked against the built pages' anchors.
#[test]
fn the_guide_builds_and_every_link_in_it_and_the_readme_resolves() {
    let book = build_book();
    let mut pages = Vec::new();
    files_with_extension(&book, "html", &mut pages);
    assert!(pages.len() > 30, "only {} pages were built", pages.len());
    let mut ids = HashMap::new();
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        // mdBook's own pages (search, print, 404) link with its site root.
        let name = page.file_name().unwrap().to_string_lossy();
        if name == "print.html" || name == "404.html" || name == "toc.html" {
            continue;
        }
        let html = std::fs::read_to_string(page).unwrap();
        let mut targets = attribute_values(&html, "href");
        targets.extend(attribute_values(&html, "src"));
        for target in targets {
            if target.contains("shared/") {
                broken.push(format!("{}: {target}: links into shared/", page.display()));
            }
            if is_external(target) || target.starts_with('{') {
                continue;
            }
            checked += 1;
            if let Err(problem) = resolve(page, target, &mut ids) {
                broken.push(format!("{}: {target}: {problem}", page.display()));
            }
        }
    }

    let readme = project_root().join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    assert!(
        text.lines().count() <= 260,
        "the README is {} lines: the guide holds the rest",
        text.lines().count()
    );
    for (at, _) in text.match_indices("](") {
        let rest = &text[at + 2..];
        let target = &rest[..rest.find(')').unwrap()];
        if target.contains("shared/") {
            broken.push(format!("README.md: {target}: links into shared/"));
        }
        if is_external(target) {
            continue;
        }
        checked += 1;
        // A page of the guide is checked as built (its anchors are mdBook's).
        let built = match target.split_once("docs/src/") {
            Some((_, page)) => {
                let (path, fragment) = page.split_once('#').unwrap_or((page, ""));
                let html = path
                    .replace(".md", ".html")
                    .replace("SUMMARY.html", "index.html");
                let fragment = if fragment.is_empty() {
                    String::new()
                } else {
                    format!("#{fragment}")
                };
                format!("docs/book/{html}{fragment}")
            }
            None => target.to_string(),
        };
        if let Err(problem) = resolve(&readme, &built, &mut ids) {
            broken.push(format!("README.md: {target}: {problem}"));
        }
    }
    assert!(checked > 200, "only {checked} links were checked");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The configuration reference has one row per key of the file, and no other.
#[test]
fn the_configuration_reference_lists_every_key_and_only_those() {
    let page = project_root().join("docs/src/reference/config.md");
    let text = std::fs::read_to_string(&page).unwrap();
    let documented: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(key, _)| key))
        .collect();
    let known: BTreeSet<&str> = entra_drift::config::KEYS.iter().copied().collect();
    assert_eq!(
        documented,
        known,
        "{}: rows differ from entra_drift::config::KEYS",
        page.display()
    );
}

/// The command-line reference, generated from the clap definition.
fn cli_reference() -> String {
    let mut command = <entra_drift::cli::Cli as clap::CommandFactory>::command().term_width(100);
    command.build();
    let mut text = String::from(
        "# Command-line reference\n\n\
         <!-- generated from the clap definition by tests/it/docs.rs: \
         ENTRA_DRIFT_UPDATE_DOCS=1 cargo test --test it docs:: rewrites it -->\n\n\
         Every command's `--help`, as the installed binary prints it (`entra-drift man` prints the \
         same as a man page).\n",
    );
    fn walk(command: &mut clap::Command, path: &str, text: &mut String) {
        let name = if path.is_empty() {
            command.get_name().to_string()
        } else {
            format!("{path} {}", command.get_name())
        };
        let help = command.render_long_help().to_string();
        text.push_str(&format!(
            "\n## `{name}`\n\n```text\n{}\n```\n",
            help.trim_end()
        ));
        let mut children: Vec<clap::Command> = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != "help")
            .cloned()
            .collect();
        for child in &mut children {
            walk(child, &name, text);
        }
    }
    walk(&mut command, "", &mut text);
    text
}

#[test]
fn the_command_line_reference_is_generated_from_the_clap_definition() {
    let page = project_root().join("docs/src/reference/cli.md");
    let generated = cli_reference();
    if std::env::var_os("ENTRA_DRIFT_UPDATE_DOCS").is_some() {
        std::fs::write(&page, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&page).unwrap();
    assert!(
        committed == generated,
        "{} is not what the clap definition says: run \
         `ENTRA_DRIFT_UPDATE_DOCS=1 cargo test --test it docs::` and commit it",
        page.display()
    );
}
