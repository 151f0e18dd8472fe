//! `summary.md`: a short Markdown summary of a run for a CI job page (GitHub's step summary,
//! Azure DevOps' `##vso[task.uploadsummary]`): counts, new and resolved, top packages, who
//! caused drift, exceptions expiring soon, and the files written.

use std::fmt::Write as _;

use super::html::{expiring, ViewInput, EXPIRING_DAYS};

pub const SUMMARY_MD: &str = "summary.md";

/// Text from the tenant (names, ids) made inert in Markdown: no table cell breaks, links,
/// emphasis or HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

/// Text for an inline code span: backslash escapes do not work there, so a backtick (which
/// would end the span) becomes a quote.
fn code(text: &str) -> String {
    format!("`{}`", text.replace(['`', '\n', '\r'], "'"))
}

/// The summary; `files` are the run folder's file names.
pub fn render(
    input: &ViewInput,
    new: usize,
    persisting: usize,
    excepted: usize,
    files: &[String],
) -> String {
    let info = input.info;
    let name = info.tenant_name.as_deref().unwrap_or(&info.tenant_id);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## entra-drift: {} — {} finding{}\n",
        escape(name),
        input.summary.total,
        if input.summary.total == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        md,
        "Tenant {}, snapshot {} from {}; run {}{}.\n",
        code(&info.tenant_id),
        info.taken_at.format("%Y-%m-%d %H:%M UTC"),
        escape(&info.source),
        code(input.run),
        match input.previous_run {
            Some(previous) => format!(" (previous run {})", code(previous)),
            None => " (first run of this tenant)".to_string(),
        }
    );
    md.push_str("| Category | Findings | In plan |\n|---|---:|---:|\n");
    for count in &input.summary.categories {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            escape(count.category),
            count.findings,
            count.in_plan
        );
    }
    let _ = writeln!(
        md,
        "\n**New:** {new} · **Persisting:** {persisting} · **Resolved since previous run:** {} · **Excepted:** {excepted} · **Plan:** {}\n",
        input.resolved.len(),
        input
            .plan_items
            .map_or("not written".to_string(), super::html::plan_line)
    );
    if !input.waiting.is_empty() {
        md.push_str(
            "### What to do next\n\n| Waiting for | Items | What they do next |\n|---|---:|---|\n",
        );
        for wait in input.waiting.iter().filter(|w| w.count > 0) {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                escape(wait.whom),
                wait.count,
                escape(wait.next)
            );
        }
        md.push_str(
            "\nEvery category, cause and action is explained in `report.html` (*What the words mean*) and `drift.xlsx` (*Read me*).\n\n",
        );
    }
    if !input.summary.top_packages.is_empty() {
        md.push_str("### Packages with most missing access\n\n| Package | Missing |\n|---|---:|\n");
        for ranked in &input.summary.top_packages {
            let label = if ranked.label.is_empty() {
                &ranked.id
            } else {
                &ranked.label
            };
            let _ = writeln!(md, "| {} | {} |", escape(label), ranked.missing);
        }
        md.push('\n');
    }
    if !input.summary.actors.is_empty() {
        md.push_str("### Who caused drift\n\n| Actor | Kind | Findings |\n|---|---|---:|\n");
        for actor in &input.summary.actors {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                escape(&actor.actor),
                escape(&actor.kind),
                actor.findings
            );
        }
        md.push('\n');
    }
    let today = input.generated_at.date_naive();
    let soon: Vec<_> = input
        .exceptions
        .unwrap_or_default()
        .iter()
        .filter(|e| expiring(e.expires, e.state, today))
        .collect();
    if !soon.is_empty() {
        let _ = writeln!(
            md,
            "### Exceptions expiring within {EXPIRING_DAYS} days\n\n| Exception | Expires | Approver |\n|---|---|---|"
        );
        for e in soon {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                escape(&e.id),
                e.expires,
                escape(&e.approver)
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "Audit log: {}\n", escape(&input.audit_log));
    md.push_str("Files: ");
    let names: Vec<String> = files.iter().map(|f| code(f)).collect();
    md.push_str(&names.join(", "));
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_text_cannot_break_the_markdown() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("<script>"), "\\<script\\>");
        assert_eq!(escape("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(escape("line\nbreak"), "line break");
    }
}
