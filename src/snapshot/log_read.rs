//! Reads the directory audit log of a live snapshot's window: once, to the end, paced to the
//! reports API's own limit; complete or recorded as not read, never partial.

use chrono::Utc;

use super::{AuditLog, LogRequest};
use crate::graph::{paths, GraphClient, GraphError};
use crate::model::DirectoryAudit;
use crate::progress::Progress;

/// The directory audit log since the window's start (graph-api.md §9), paced to the reports
/// API's own limit. Complete or not at all: any failure leaves the log unread with the reason,
/// so no finding is said to have no event on a partial read.
pub async fn read(
    client: &GraphClient,
    request: &LogRequest,
    taken: chrono::DateTime<Utc>,
    progress: &Progress,
) -> (AuditLog, Vec<DirectoryAudit>) {
    if !request.read {
        return (AuditLog::Skipped, Vec::new());
    }
    let since = request.since(taken);
    let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let stage = progress.stage("audit log", None);
    let on_page = {
        let counter = stage.counter().clone();
        move |items: usize| counter.page(items as u64)
    };
    let pace = crate::graph::pace::Pace::reports();
    let activities = super::events::activity_names();
    let mut read = client
        .list_paced(
            &client.url(&paths::directory_audits(&since_text, &activities)),
            &on_page,
            &pace,
        )
        .await;
    if read.as_ref().err().and_then(GraphError::status) == Some(400) {
        // A tenant that refuses `or` between activities: one filter per activity instead.
        tracing::info!("the audit log refused the combined filter; reading one activity at a time");
        let mut all = Vec::new();
        read = Ok(Vec::new());
        for activity in &activities {
            let url = client.url(&paths::directory_audits_of(&since_text, activity));
            match client.list_paced(&url, &on_page, &pace).await {
                Ok(items) => all.extend(items),
                Err(error) => {
                    read = Err(error);
                    break;
                }
            }
        }
        if read.is_ok() {
            read = Ok(all);
        }
    }
    stage.finish();
    match read {
        Ok(items) => {
            let total = items.len();
            let events: Vec<DirectoryAudit> = items
                .into_iter()
                .filter_map(|item| serde_json::from_value(item).ok())
                .collect();
            if events.len() < total {
                tracing::warn!(
                    unreadable = total - events.len(),
                    "some audit-log events have a shape this version cannot read; they are not used as causes"
                );
            }
            (
                AuditLog::Read {
                    since,
                    until: taken,
                },
                events,
            )
        }
        Err(error) => {
            let hint = if error.status() == Some(403) {
                "; grant the application permission AuditLog.Read.All (and, for delegated access, a role that may read audit logs)"
            } else {
                ""
            };
            tracing::warn!(reason = %error.reason(), "the directory audit log was not read: findings say `log_unreadable`{hint}");
            (
                AuditLog::Unread {
                    reason: format!("{}{hint}", error.reason()),
                },
                Vec::new(),
            )
        }
    }
}
