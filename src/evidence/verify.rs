//! `evidence verify`: checks run folders against their manifests and the chain of manifests
//! against itself and `index.csv`. Reports every edited, missing or extra file, every broken
//! link, and notes what is legitimate (a run pruned by retention, an approval added by
//! `plan approve`, the journal and results of `apply` and `verify`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{bytes_digest, file_digest, list_files, Manifest, FORMAT, MANIFEST_JSON, VERSION};
use crate::error::{Error, InputError, Result};
use crate::history::{RunIndex, INDEX_CSV};
use crate::plan::Plan;
use crate::report::PLAN_JSON;
use crate::trust::{AllowedSigners, EVIDENCE_NAMESPACE};

/// Files that `apply` and `verify` write into a run folder after the audit.
const LATER_ADDITIONS: [&str; 7] = [
    "plan.journal.jsonl",
    ".lock",
    // `plan approve`'s edit lock, left behind only by a killed approval.
    ".plan.json.lock",
    crate::apply::results::APPLY_RESULTS_CSV,
    crate::apply::results::APPLY_RESULTS_XLSX,
    crate::apply::results::VERIFY_RESULTS_CSV,
    "apply-dry-run.csv",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A file's bytes differ from its recorded digest.
    Edited,
    /// A recorded file is gone.
    Missing,
    /// A file that the manifest does not list.
    Extra,
    /// The manifest itself is missing, unreadable, or not this run's.
    Manifest,
    /// A link of the chain does not hold (the previous manifest changed or vanished, the
    /// index records another digest, runs were reordered).
    BrokenChain,
    /// A run folder with a manifest that `index.csv` does not list.
    Unrecorded,
    /// A seal or an approval signature that does not verify, or a run left unsigned after
    /// signed ones.
    Signature,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Edited => "edited",
            Kind::Missing => "missing",
            Kind::Extra => "extra",
            Kind::Manifest => "manifest",
            Kind::BrokenChain => "broken chain",
            Kind::Unrecorded => "unrecorded run",
            Kind::Signature => "signature",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub run: String,
    pub kind: Kind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub run: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct Verification {
    /// Run folders checked (as paths).
    pub checked: Vec<PathBuf>,
    pub problems: Vec<Problem>,
    pub notes: Vec<Note>,
    /// Who sealed each run: `(run, principal or "key <fingerprint>")`.
    pub seals: Vec<(String, String)>,
    /// The allowed_signers policy seals and approvals are checked against.
    policy: Option<AllowedSigners>,
    /// A run of the tenant being checked was sealed: every later one must be too.
    sealed_before: bool,
    /// With a policy, runs before this one may be unsealed (the verifier's word, not the
    /// history's).
    sealed_since: Option<String>,
    /// The runs of the tenant being checked that come before `sealed_since` in its index.
    exempt: HashSet<String>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, run: &str, kind: Kind, detail: String) {
        self.problems.push(Problem {
            run: run.to_string(),
            kind,
            detail,
        });
    }

    /// Where sealing began, by position in the index: the runs listed before the named run are
    /// exempt; the named run must be listed (and, not being exempt, sealed). Names are not
    /// compared, so a run renamed to sort early gains nothing.
    fn anchor_sealing(&mut self, index: &RunIndex) {
        self.exempt.clear();
        let Some(since) = self.sealed_since.clone() else {
            return;
        };
        match index.records.iter().position(|r| r.run == since) {
            Some(at) => self
                .exempt
                .extend(index.records[..at].iter().map(|r| r.run.clone())),
            None => self.problem(
                &since,
                Kind::Signature,
                format!(
                    "--sealed-since names run `{since}`, which `{}` does not list",
                    index.path.display()
                ),
            ),
        }
    }

    fn note(&mut self, run: &str, detail: String) {
        self.notes.push(Note {
            run: run.to_string(),
            detail,
        });
    }
}

/// Verifies a run folder, a tenant folder (every run and the whole chain) or an `--out` root
/// (every tenant folder in it).
pub fn verify(
    dir: &Path,
    policy: Option<AllowedSigners>,
    sealed_since: Option<&str>,
) -> Result<Verification> {
    let mut result = Verification {
        policy,
        sealed_since: sealed_since.map(str::to_string),
        ..Verification::default()
    };
    if !dir.is_dir() {
        return Err(Error::Input(InputError::NotADirectory {
            path: dir.to_path_buf(),
        }));
    }
    if is_run_folder(dir) {
        let tenant_dir = dir.parent().unwrap_or(Path::new("."));
        let index = read_index(tenant_dir)?;
        let name = name_of(dir);
        if let Some(index) = &index {
            result.anchor_sealing(index);
            if index.find(&name).is_none() {
                result.problem(
                    &name,
                    Kind::Unrecorded,
                    format!("`{}` does not list this run", index.path.display()),
                );
            }
        }
        verify_run(tenant_dir, &name, index.as_ref(), None, &mut result)?;
        return Ok(result);
    }
    if dir.join(INDEX_CSV).is_file() {
        verify_tenant(dir, &mut result)?;
        return Ok(result);
    }
    let mut tenants: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join(INDEX_CSV).is_file())
        .collect();
    tenants.sort();
    if tenants.is_empty() {
        return Err(Error::NotARunFolder {
            path: dir.to_path_buf(),
            problem: format!("has no {MANIFEST_JSON} and no {INDEX_CSV}: it is not a run folder, a tenant folder or an --out root of entra-drift audits"),
        });
    }
    for tenant in tenants {
        verify_tenant(&tenant, &mut result)?;
    }
    Ok(result)
}

/// A run folder has a manifest, or is listed by its tenant's index (its manifest deleted).
fn is_run_folder(dir: &Path) -> bool {
    if dir.join(MANIFEST_JSON).is_file() {
        return true;
    }
    let Some(parent) = dir.parent() else {
        return false;
    };
    parent.join(INDEX_CSV).is_file()
        && RunIndex::read(parent)
            .ok()
            .is_some_and(|index| index.find(&name_of(dir)).is_some())
}

fn read_index(tenant_dir: &Path) -> Result<Option<RunIndex>> {
    if tenant_dir.join(INDEX_CSV).is_file() {
        RunIndex::read(tenant_dir).map(Some)
    } else {
        Ok(None)
    }
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every run of the index in order, its link to the one before, and folders the index does
/// not know.
fn verify_tenant(tenant_dir: &Path, result: &mut Verification) -> Result<()> {
    let index = RunIndex::read(tenant_dir)?;
    result.anchor_sealing(&index);
    let mut listed = HashSet::new();
    let mut before: Option<&str> = None;
    let mut kept_before = false;
    result.sealed_before = false;
    for record in &index.records {
        listed.insert(record.run.clone());
        let folder = tenant_dir.join(&record.run);
        if record.pruned_at.is_some() && kept_before {
            // Retention prunes the oldest runs only: a pruned run after a kept one was
            // deleted by something else.
            result.problem(
                &record.run,
                Kind::BrokenChain,
                "marked pruned, but an older run is kept: retention prunes only the oldest runs"
                    .into(),
            );
        }
        if record.pruned_at.is_none() {
            kept_before = true;
        }
        if let Some(pruned) = record.pruned_at {
            if folder.exists() {
                result.note(
                    &record.run,
                    format!(
                        "marked pruned on {} but its folder still exists; not checked",
                        pruned.to_rfc3339()
                    ),
                );
            }
        } else if !folder.is_dir() {
            result.problem(
                &record.run,
                Kind::BrokenChain,
                format!(
                    "the run folder `{}` is gone, and retention did not prune it",
                    folder.display()
                ),
            );
        } else {
            verify_run(tenant_dir, &record.run, Some(&index), Some(before), result)?;
        }
        before = Some(&record.run);
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(tenant_dir)
        .map_err(|e| Error::io(tenant_dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir() && !listed.contains(&name_of(path)))
        .collect();
    others.sort();
    for folder in others {
        let name = name_of(&folder);
        if folder.join(MANIFEST_JSON).is_file() {
            result.problem(
                &name,
                Kind::Unrecorded,
                format!("has a manifest but `{}` does not list it (a run that failed before finishing, or a folder added by hand)", index.path.display()),
            );
        } else {
            result.note(&name, "skipped: no manifest.json (a stored snapshot, a run that failed, or one written before evidence existed)".into());
        }
    }
    Ok(())
}

/// One run: its files against its manifest, its manifest against the index, and its link.
/// `expected_previous` is the run before it in the index (`None`: do not check the order).
fn verify_run(
    tenant_dir: &Path,
    run: &str,
    index: Option<&RunIndex>,
    expected_previous: Option<Option<&str>>,
    result: &mut Verification,
) -> Result<()> {
    let run_dir = tenant_dir.join(run);
    result.checked.push(run_dir.clone());
    let manifest_path = run_dir.join(MANIFEST_JSON);
    let bytes = match crate::files::read_run_file(&manifest_path, super::MAX_MANIFEST_BYTES)? {
        Some(bytes) => bytes,
        None => {
            result.problem(
                run,
                Kind::Manifest,
                format!(
                    "`{}` is missing: nothing in this run can be verified",
                    manifest_path.display()
                ),
            );
            return Ok(());
        }
    };
    let manifest: Manifest = match parse_manifest(&bytes, &manifest_path) {
        Ok(manifest) => manifest,
        Err(message) => {
            result.problem(run, Kind::Manifest, message);
            return Ok(());
        }
    };
    let digest = bytes_digest(&bytes);
    if manifest.run != run {
        result.problem(
            run,
            Kind::Manifest,
            format!(
                "the manifest is run `{}`'s, not this folder's",
                manifest.run
            ),
        );
    }
    if let Some(record) = index.and_then(|i| i.find(run)) {
        if record.manifest_sha256 != digest {
            result.problem(
                run,
                Kind::BrokenChain,
                format!(
                    "manifest.json is {digest}, but index.csv recorded {} when the run finished",
                    record.manifest_sha256
                ),
            );
        }
    }
    check_seal(&run_dir, run, &digest, result);
    check_files(&run_dir, run, &manifest, result)?;
    check_link(tenant_dir, run, &manifest, index, expected_previous, result)
}

pub(super) fn parse_manifest(bytes: &[u8], path: &Path) -> std::result::Result<Manifest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::json(path, &e).to_string())?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT {
        return Err(format!(
            "`{}` is not an evidence manifest (format `{format}`)",
            path.display()
        ));
    }
    if value.get("version").and_then(|v| v.as_u64()) != Some(u64::from(VERSION)) {
        return Err(format!(
            "`{}` has a manifest version this entra-drift does not read (it reads {VERSION})",
            path.display()
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("`{}` is malformed: {e}", path.display()))
}

fn check_files(
    run_dir: &Path,
    run: &str,
    manifest: &Manifest,
    result: &mut Verification,
) -> Result<()> {
    let mut recorded = HashSet::new();
    for entry in &manifest.files {
        recorded.insert(entry.path.as_str());
        // A recorded path must stay inside the run folder.
        if entry
            .path
            .split('/')
            .any(|part| part == ".." || part.is_empty())
            || entry.path.starts_with('/')
        {
            result.problem(
                run,
                Kind::Manifest,
                format!(
                    "the manifest lists `{}`, which is not a path inside the run",
                    entry.path
                ),
            );
            continue;
        }
        let path = run_dir.join(&entry.path);
        if !path.is_file() {
            result.problem(run, Kind::Missing, entry.path.clone());
            continue;
        }
        let (_, actual) = file_digest(&path)?;
        if actual == entry.sha256 {
            continue;
        }
        match approval_only(&path, &entry.sha256, result.policy.as_ref()) {
            Some(approvals) => {
                if approvals.contains("SIGNATURE DOES NOT VERIFY") {
                    result.problem(
                        run,
                        Kind::Signature,
                        format!("{}: approvals {approvals}", entry.path),
                    );
                } else {
                    result.note(run, format!("{}: approvals added after the audit: {approvals} (the audit's content is intact)", entry.path));
                }
            }
            None => result.problem(
                run,
                Kind::Edited,
                format!("{} (recorded {}, now {actual})", entry.path, entry.sha256),
            ),
        }
    }
    for (relative, _) in list_files(run_dir)? {
        if relative == MANIFEST_JSON
            || relative == super::MANIFEST_SIG
            || recorded.contains(relative.as_str())
        {
            continue;
        }
        if LATER_ADDITIONS.contains(&relative.as_str()) {
            result.note(run, format!("{relative}: written after the audit by apply or verify (not sealed by this manifest)"));
        } else {
            result.problem(run, Kind::Extra, relative);
        }
    }
    Ok(())
}

/// When `plan.json` differs only by the approvals that `plan approve` adds (and the revocations
/// `plan approve --revoke` records), says who approved (and, against the policy, whether each
/// signature holds) and who revoked.
fn approval_only(path: &Path, recorded: &str, policy: Option<&AllowedSigners>) -> Option<String> {
    if path.file_name()? != PLAN_JSON {
        return None;
    }
    let text = crate::files::read_run_text(path, super::MAX_MANIFEST_BYTES)
        .ok()
        .flatten()?;
    let plan: Plan = serde_json::from_str(&text).ok()?;
    if (plan.approvals.is_empty() && plan.revocations.is_empty())
        || bytes_digest(&plan.committed_bytes()) != recorded
    {
        return None;
    }
    let mut described: Vec<String> = plan
        .approvals
        .iter()
        .map(|approval| {
            let statement = plan.statement_with(&approval.items, &approval.choices);
            let signed = match (&approval.signature, policy) {
                (None, _) => "unsigned".to_string(),
                (Some(signature), Some(policy)) => match policy.verify_for(
                    &approval.approver,
                    signature,
                    crate::trust::PLAN_NAMESPACE,
                    statement.as_bytes(),
                    approval.approved_at,
                ) {
                    Ok(verified) => format!(
                        "signed by {} ({})",
                        verified.principal, verified.fingerprint
                    ),
                    Err(error) => format!("SIGNATURE DOES NOT VERIFY: {error}"),
                },
                (Some(_), None) => format!(
                    "signed with {} (not checked: no --allowed-signers)",
                    approval.key.as_deref().unwrap_or("an unnamed key")
                ),
            };
            format!("{} ({signed})", approval.approver)
        })
        .collect();
    described.extend(plan.revocations.iter().map(|revocation| {
        format!(
            "{} approval(s) by {} revoked on {}",
            revocation.removed.len(),
            revocation.approver,
            revocation.revoked_at.to_rfc3339()
        )
    }));
    Some(described.join("; "))
}

/// An SSH signature is a few hundred bytes (an RSA one a few kilobytes).
const MAX_SEAL_BYTES: u64 = 1 << 20;

/// The run's seal (`manifest.sig`): checked against the policy when there is one; a run left
/// unsealed after a sealed one of its tenant is a problem (someone rewrote it without the key).
fn check_seal(run_dir: &Path, run: &str, manifest_digest: &str, result: &mut Verification) {
    let path = run_dir.join(super::MANIFEST_SIG);
    let signature = match crate::files::read_run_text(&path, MAX_SEAL_BYTES) {
        Ok(Some(signature)) => signature,
        Err(error) => {
            result.problem(run, Kind::Signature, error.to_string());
            return;
        }
        Ok(None) => {
            // The verifier's policy decides what must be sealed: with allowed signers, every
            // run, unless the verifier said where sealing began. Deleting every seal must not
            // make a rewritten history pass.
            let exempt = result.exempt.contains(run);
            if result.policy.is_some() && !exempt {
                result.problem(
                    run,
                    Kind::Signature,
                    match &result.sealed_since {
                        Some(since) => format!("not sealed (no manifest.sig), though every run from {since} on must be (--sealed-since)"),
                        None => "not sealed (no manifest.sig), though --allowed-signers requires every run to be (name the first sealed run with --sealed-since RUN if earlier runs predate sealing)".into(),
                    },
                );
                return;
            }
            if result.sealed_before {
                result.problem(
                    run,
                    Kind::Signature,
                    "not sealed (no manifest.sig), though an earlier run of this tenant is".into(),
                );
            }
            return;
        }
    };
    result.sealed_before = true;
    let message = super::seal_message(manifest_digest);
    let key = match crate::trust::verify(&signature, EVIDENCE_NAMESPACE, message.as_bytes()) {
        Ok(key) => key,
        Err(error) => {
            result.problem(
                run,
                Kind::Signature,
                format!("manifest.sig does not verify over this manifest: {error}"),
            );
            return;
        }
    };
    let fingerprint = crate::trust::fingerprint(&key);
    let Some(policy) = &result.policy else {
        result
            .seals
            .push((run.to_string(), format!("key {fingerprint}")));
        return;
    };
    let principals = policy.principals_for(&key, EVIDENCE_NAMESPACE, chrono::Utc::now());
    if principals.is_empty() {
        result.problem(
            run,
            Kind::Signature,
            format!(
                "sealed by key {fingerprint}, which `{}` does not allow for {EVIDENCE_NAMESPACE}",
                policy.path().display()
            ),
        );
    } else {
        result.seals.push((
            run.to_string(),
            format!("{} ({fingerprint})", principals.join(", ")),
        ));
    }
}

fn check_link(
    tenant_dir: &Path,
    run: &str,
    manifest: &Manifest,
    index: Option<&RunIndex>,
    expected_previous: Option<Option<&str>>,
    result: &mut Verification,
) -> Result<()> {
    let link = match (&manifest.previous, expected_previous) {
        (None, Some(Some(expected))) => {
            result.problem(run, Kind::BrokenChain, format!("the manifest links to no previous run, but index.csv lists `{expected}` before it"));
            return Ok(());
        }
        (None, _) => return Ok(()),
        (Some(link), Some(expected)) if expected != Some(link.run.as_str()) => {
            result.problem(
                run,
                Kind::BrokenChain,
                format!(
                    "the manifest links to `{}`, but index.csv lists {} before it",
                    link.run,
                    expected
                        .map(|e| format!("`{e}`"))
                        .unwrap_or("no run".into())
                ),
            );
            link
        }
        (Some(link), _) => link,
    };
    if link.run.contains(['/', '\\']) || link.run.starts_with('.') {
        result.problem(
            run,
            Kind::Manifest,
            format!("the previous run `{}` is not a folder name", link.run),
        );
        return Ok(());
    }
    let Some(recorded) = &link.manifest_sha256 else {
        result.problem(
            run,
            Kind::BrokenChain,
            format!(
                "the previous run `{}` had no readable manifest when this run was written",
                link.run
            ),
        );
        return Ok(());
    };
    let previous_dir = tenant_dir.join(&link.run);
    let previous_manifest = previous_dir.join(MANIFEST_JSON);
    if previous_dir.is_dir() && !previous_manifest.is_file() {
        result.problem(
            run,
            Kind::BrokenChain,
            format!("the previous run `{}` has lost its manifest.json", link.run),
        );
        return Ok(());
    }
    if previous_manifest.is_file() {
        let (_, actual) = file_digest(&previous_manifest)?;
        if &actual != recorded {
            result.problem(
                run,
                Kind::BrokenChain,
                format!("the previous run `{}`'s manifest.json changed after this run was written (recorded {recorded}, now {actual})", link.run),
            );
        }
        return Ok(());
    }
    match index.and_then(|i| i.find(&link.run)) {
        Some(record) if record.pruned_at.is_some() => {
            if &record.manifest_sha256 != recorded {
                result.problem(
                    run,
                    Kind::BrokenChain,
                    format!(
                        "the pruned run `{}` is recorded in index.csv with another manifest digest",
                        link.run
                    ),
                );
            } else {
                let when = record
                    .pruned_at
                    .map(|at| at.to_rfc3339())
                    .unwrap_or_default();
                result.note(run, format!("previous run `{}` was pruned by retention on {when}; the chain is verified from this run on", link.run));
            }
        }
        _ => result.problem(
            run,
            Kind::BrokenChain,
            format!(
                "the previous run `{}` is gone, and index.csv does not record it as pruned",
                link.run
            ),
        ),
    }
    Ok(())
}
