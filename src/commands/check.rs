//! `check sharepoint SITE`: what the audit's credential can read of a SharePoint site, before
//! an audit relies on it — the token for the site's origin, its groups, whether each group's
//! members are visible and readable, and how its users match Entra users.

use entra_model::model::SiteGroup;

use super::{connect, Outcome};
use crate::cli::CheckSharepointArgs;
use crate::config::Config;
use crate::error::Result;
use crate::graph::sharepoint::{failure_reason, SharePointClient};
use crate::output::Printer;
use crate::settings::{self, Given};

pub fn sharepoint(
    args: &CheckSharepointArgs,
    given: &Given,
    config: Option<&Config>,
    printer: &Printer,
) -> Result<Outcome> {
    let empty = Config::default();
    let graph = settings::resolve_graph(&args.graph, given, config.unwrap_or(&empty));
    let connection = connect::connect(&graph, "")?;
    let client = &connection.sharepoint;
    printer.data(format_args!("site {}", args.site))?;
    if let Some(reason) = client.refused_credential() {
        printer.data(format_args!("credential: client secret: {reason}"))?;
        return Ok(Outcome::CheckFailed);
    }
    let scope = client.scope_of(&args.site)?;
    let runtime = connect::runtime()?;
    let lines = runtime.block_on(probe(client, &args.site, &scope, args.group));
    let mut failed = false;
    for (line, ok) in lines {
        failed |= !ok;
        printer.data(line)?;
    }
    Ok(if failed {
        Outcome::CheckFailed
    } else {
        Outcome::Clean
    })
}

/// The probe's lines, each with whether that step read what an audit needs.
async fn probe(
    client: &SharePointClient,
    site: &str,
    scope: &str,
    only: Option<u32>,
) -> Vec<(String, bool)> {
    let mut lines = Vec::new();
    match client.sign_in(site).await {
        Ok(()) => lines.push((format!("token for {scope}: obtained"), true)),
        Err(error) => {
            lines.push((format!("token for {scope}: {}", error.reason()), false));
            return lines;
        }
    }
    let groups: Vec<SiteGroup> = match client.groups(site).await {
        Ok(groups) => groups,
        Err(error) => {
            lines.push((format!("site groups: {}", failure_reason(&error)), false));
            return lines;
        }
    };
    lines.push((format!("site groups: {}", groups.len()), true));
    let wanted: Vec<&SiteGroup> = groups
        .iter()
        .filter(|g| only.is_none_or(|n| g.id == n))
        .collect();
    if let (Some(n), true) = (only, wanted.is_empty()) {
        lines.push((format!("group {n}: does not exist on the site"), false));
    }
    for group in wanted {
        let name = group.title.as_deref().unwrap_or("");
        if !group.members_visible() {
            lines.push((
                format!("group {} \"{name}\": members hidden from this app (members-only visibility): its site roles would be unverifiable", group.id),
                false,
            ));
            continue;
        }
        match client.users(site, group.id).await {
            Ok(users) => {
                let direct: Vec<_> = users
                    .iter()
                    .filter(|u| u.principal_type == Some(1))
                    .collect();
                let with_id = direct
                    .iter()
                    .filter(|u| {
                        u.aad_object_id
                            .as_ref()
                            .and_then(|i| i.name_id.as_ref())
                            .is_some()
                    })
                    .count();
                let claims = users.len() - direct.len();
                lines.push((
                    format!(
                        "group {} \"{name}\": {} direct {} ({with_id} with an Entra object id, {} to match by UPN), {claims} group {} (not direct delivery)",
                        group.id,
                        direct.len(),
                        if direct.len() == 1 { "user" } else { "users" },
                        direct.len() - with_id,
                        if claims == 1 { "claim" } else { "claims" },
                    ),
                    true,
                ));
            }
            Err(error) => lines.push((
                format!("group {} \"{name}\": {}", group.id, failure_reason(&error)),
                false,
            )),
        }
    }
    lines
}
