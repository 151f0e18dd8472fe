//! The layer rule (`.ci/layers.py`): the tree passes, and a back-edge makes it fail.

use std::path::Path;
use std::process::Command;

fn layers(src: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/layers.py"))
        .arg(src)
        .output()
        .expect("running python3 .ci/layers.py")
}

#[test]
fn the_source_tree_imports_only_downward() {
    let output = layers(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(", 0 problem(s)"), "{stdout}");
}

#[test]
fn a_back_edge_fails_the_check() {
    let copy = tempfile::tempdir().unwrap();
    crate::common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        copy.path(),
    );
    let client = copy.path().join("graph/mod.rs");
    let text = std::fs::read_to_string(&client).unwrap();
    std::fs::write(
        &client,
        format!("{text}\n#[allow(unused_imports)]\nuse crate::commands::Outcome;\n"),
    )
    .unwrap();
    let output = layers(copy.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("`graph` imports `commands`, which is a higher layer"),
        "{stdout}"
    );
}
