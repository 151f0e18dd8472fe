//! Build script: stamps the commit the binary was built from into `--version`, so a report, a
//! bug or a seal can be traced to its source. Outside a git checkout (a source tarball, a
//! container build without `.git`) the commit is `ENTRA_DRIFT_COMMIT` when set, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ENTRA_DRIFT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("ENTRA_DRIFT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ENTRA_DRIFT_COMMIT={commit}");
}
