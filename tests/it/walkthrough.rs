//! The guide's walkthrough (`docs/src/getting-started/walkthrough.md`) runs as written: its
//! `sh` blocks, in order, in one bash, from the sample through fake-graph, a live audit, two
//! SSH-signed approvals, apply, verify and `evidence verify`.

use std::process::Command;

use crate::common::project_root;
use crate::support::fake_graph::fake_graph_binary;

const PAGE: &str = "docs/src/getting-started/walkthrough.md";

/// The page's first block builds both programs and puts them on PATH. Inside `cargo test` the
/// build already happened (and cargo holds the build lock), so this block alone is replaced
/// by putting the test's own build on PATH; it must read exactly so.
const BUILD_BLOCK: &str =
    "cargo build --workspace --bins\nexport PATH=\"$PWD/target/debug:$PATH\"\n";

/// The fenced `sh` blocks of a Markdown page, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "{PAGE}: an sh block is not closed");
    blocks
}

#[test]
fn the_walkthrough_runs_as_written() {
    let page = std::fs::read_to_string(project_root().join(PAGE)).unwrap();
    let blocks = sh_blocks(&page);
    assert!(blocks.len() >= 8, "{PAGE} has {} sh blocks", blocks.len());
    assert_eq!(blocks[0], BUILD_BLOCK, "{PAGE}: the first block changed");
    let binaries = fake_graph_binary().parent().unwrap().to_path_buf();
    assert!(binaries.join("entra-drift").exists());

    let mut script = String::from(
        "set -euo pipefail\n\
         # The test's own cleanup, whatever block fails.\n\
         trap 'if [ -n \"${FAKE_GRAPH_PID:-}\" ]; then kill \"$FAKE_GRAPH_PID\" 2>/dev/null || true; fi; \
         if [ -n \"${WORK:-}\" ]; then rm -rf \"$WORK\"; fi' EXIT\n",
    );
    script.push_str(&format!("export PATH='{}':\"$PATH\"\n", binaries.display()));
    for block in &blocks[1..] {
        script.push_str(block);
    }

    let started = std::time::Instant::now();
    let mut command = Command::new("bash");
    command.arg("-c").arg(&script).current_dir(project_root());
    for (name, _) in std::env::vars() {
        if name.starts_with("AZURE_")
            || name.starts_with("ENTRA_DRIFT_")
            || name.starts_with("FAKE_GRAPH_")
            || name == "SSL_CERT_FILE"
        {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("running bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "the walkthrough failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    eprintln!(
        "walkthrough ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for expected in [
        "Causes: removed",
        "fake Graph at https://127.0.0.1:",
        "Approved 5 of 9 items",
        "The plan has 2 approval(s)",
        "Dry run: 0 reprocessed, 0 removed, 0 accepted, 5 would be applied",
        "Applied: 5 reprocessed",
        "Verified 9 items: 5 restored, 0 approved still missing",
        "1 run(s) verified: intact",
    ] {
        assert!(
            stdout.contains(expected) || stderr.contains(expected),
            "the walkthrough's output lacks `{expected}`:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
}
