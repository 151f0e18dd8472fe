//! The container image and deployment examples (issue 14) stay true to the product: CI cannot
//! build the image (no Docker engine), so what can be checked here is: the configuration the
//! examples ship is valid for this binary (`config check`), the Kubernetes ConfigMap embeds that
//! same file, and the Dockerfile is multi-stage, runs as a numeric non-root user and starts the
//! binary it copies.

use crate::common::*;

fn deploy(name: &str) -> String {
    std::fs::read_to_string(project_root().join("deploy").join(name)).unwrap()
}

fn config_check(path: &std::path::Path) -> String {
    let output = entra_drift()
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{}: {stderr}", path.display());
    stderr
}

#[test]
fn the_examples_configuration_is_valid_and_the_configmap_embeds_it() {
    let said = config_check(&project_root().join("deploy/entra-drift.toml"));
    assert!(
        said.contains("out: https://contosoaudit.blob.core.windows.net/entra-drift/weekly"),
        "{said}"
    );
    assert!(
        said.contains("notify: teams ($ENTRA_DRIFT_TEAMS_WEBHOOK_URL) on drift"),
        "{said}"
    );
    assert!(
        said.contains("notify: mail to iam-team@contoso.com on new drift"),
        "{said}"
    );

    // The ConfigMap's `entra-drift.toml: |` block, de-indented, is a valid file too, with the
    // same settings (comments may differ).
    let yaml = deploy("k8s-cronjob.yaml");
    let start = yaml
        .find("entra-drift.toml: |")
        .expect("the ConfigMap holds the file");
    let block: Vec<&str> = yaml[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with("    "))
        .map(|line| line.get(4..).unwrap_or(""))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let embedded = dir.path().join("entra-drift.toml");
    std::fs::write(&embedded, block.join("\n")).unwrap();
    let settings = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert_eq!(settings(&config_check(&embedded)), settings(&said));
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_runs_what_it_copies() {
    let text = deploy("../Dockerfile");
    let instructions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].ends_with(" AS build"));
    assert!(froms[1].contains("distroless") && froms[1].ends_with(":nonroot"));
    let user = instructions
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER");
    let uid: u32 = user[5..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric user");
    assert_ne!(uid, 0);
    assert!(instructions
        .contains(&"COPY --from=build /src/target/release/entra-drift /usr/local/bin/entra-drift"));
    assert!(instructions
        .iter()
        .any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/entra-drift\"")));
    assert!(instructions
        .iter()
        .any(|l| l.contains("cargo build --release --locked --bin entra-drift")));
    // Every path the build copies exists, and the ignore file keeps the bench cargo needs.
    for line in instructions
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        for source in line[5..].split_whitespace().rev().skip(1) {
            assert!(project_root().join(source).exists(), "{source}");
        }
    }
    let ignore = deploy("../.dockerignore");
    assert!(ignore.contains("!benches/xlsx.rs"));
    assert!(!ignore
        .lines()
        .any(|l| l.trim() == "src/" || l.trim() == "crates/"));
}
