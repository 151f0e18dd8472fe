//! App-only credentials through `azure_identity`, national clouds, and the token the Graph
//! client sends. Secrets stay inside `azure_core::credentials::Secret` and are never formatted.

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, SecretBytes, TokenCredential};
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientCertificateCredential, ClientCertificateCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use tokio::sync::Mutex;

use super::error::{GraphError, GraphErrorKind};

/// The national clouds: each has its own sign-in authority and Graph root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Global Azure (also GCC).
    Global,
    /// US Government L4 (GCC High).
    UsGovL4,
    /// US Government L5 (DoD).
    UsGovL5,
    /// Azure China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// Every cloud with its name (as flags and the configuration file spell it) and a line of
    /// help; the CLI and the configuration reader both take their choices from here.
    pub const CHOICES: [(&'static str, Cloud, &'static str); 4] = [
        ("global", Cloud::Global, "Global Azure (also GCC)"),
        ("us-gov-l4", Cloud::UsGovL4, "US Government L4 (GCC High)"),
        ("us-gov-l5", Cloud::UsGovL5, "US Government L5 (DoD)"),
        ("china", Cloud::China, "Azure China, operated by 21Vianet"),
    ];

    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGovL4 | Cloud::UsGovL5 => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGovL4 => "https://graph.microsoft.us",
            Cloud::UsGovL5 => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// Pick from the environment: secret, then certificate, then workload identity, then
    /// managed identity, then the Azure CLI.
    Auto,
    /// `AZURE_CLIENT_SECRET` (client credentials with a secret).
    Secret,
    /// `AZURE_CLIENT_CERTIFICATE_PATH`: a PKCS#12 (.pfx) file with an RSA key;
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD` if it has one.
    Certificate,
    /// The Azure managed identity of the host (system-assigned, or user-assigned by client id).
    ManagedIdentity,
    /// Workload identity federation: `AZURE_FEDERATED_TOKEN_FILE` (Kubernetes, GitHub OIDC).
    WorkloadIdentity,
    /// The signed-in Azure CLI (`az login`), for trying things by hand.
    AzureCli,
}

impl CredentialKind {
    /// Every credential with its name and a line of help (see [`Cloud::CHOICES`]).
    pub const CHOICES: [(&'static str, CredentialKind, &'static str); 6] = [
        ("auto", CredentialKind::Auto, "the first configured: secret, certificate, workload identity, managed identity, Azure CLI"),
        ("secret", CredentialKind::Secret, "AZURE_CLIENT_SECRET"),
        ("certificate", CredentialKind::Certificate, "AZURE_CLIENT_CERTIFICATE_PATH (PKCS#12)"),
        ("managed-identity", CredentialKind::ManagedIdentity, "the host's managed identity"),
        ("workload-identity", CredentialKind::WorkloadIdentity, "AZURE_FEDERATED_TOKEN_FILE"),
        ("azure-cli", CredentialKind::AzureCli, "the signed-in Azure CLI (az login)"),
    ];
}

/// A value chosen by name from a fixed table (flags and configuration keys share the table).
pub fn choose<T: Copy>(choices: &[(&'static str, T, &'static str)], name: &str) -> Option<T> {
    choices
        .iter()
        .find(|(candidate, _, _)| candidate.eq_ignore_ascii_case(name.trim()))
        .map(|(_, value, _)| *value)
}

/// Everything needed to obtain tokens. Built from flags and `<prefix>AZURE_*` variables.
pub struct CredentialSettings {
    pub kind: CredentialKind,
    pub tenant_id: String,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub certificate_path: Option<PathBuf>,
    pub certificate_password: Option<Secret>,
    pub federated_token_file: Option<PathBuf>,
    pub authority_host: String,
    /// `https://graph.microsoft.com` or a national cloud's root: the token's audience.
    pub graph_root: String,
    /// Managed identity is only chosen automatically where the host advertises one.
    pub managed_identity_available: bool,
    /// The prefix of the variables read (`APPLY_` for apply's own identity), for messages.
    pub env_prefix: String,
}

impl std::fmt::Debug for CredentialSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSettings")
            .field("kind", &self.kind)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("authority_host", &self.authority_host)
            .finish_non_exhaustive()
    }
}

impl CredentialSettings {
    /// Reads `<prefix>AZURE_CLIENT_ID`, `..._CLIENT_SECRET`, `..._CLIENT_CERTIFICATE_PATH`,
    /// `..._CLIENT_CERTIFICATE_PASSWORD`, `..._FEDERATED_TOKEN_FILE`. The prefix lets `apply` use
    /// another identity than `audit` (e.g. `APPLY_AZURE_CLIENT_SECRET`).
    pub fn from_env(
        prefix: &str,
        kind: CredentialKind,
        tenant_id: String,
        client_id: Option<String>,
        authority_host: String,
        graph_root: String,
    ) -> Self {
        let var = |name: &str| {
            std::env::var(format!("{prefix}{name}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        CredentialSettings {
            kind,
            tenant_id,
            client_id: client_id.or_else(|| var("AZURE_CLIENT_ID")),
            client_secret: var("AZURE_CLIENT_SECRET").map(Secret::from),
            certificate_path: var("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            certificate_password: var("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Secret::from),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            authority_host,
            graph_root,
            managed_identity_available: std::env::var_os("IDENTITY_ENDPOINT").is_some()
                || std::env::var_os("MSI_ENDPOINT").is_some(),
            env_prefix: prefix.to_string(),
        }
    }

    /// For a failed sign-in that `auto` fell through to the Azure CLI for: which credentials
    /// were tried, in order, and what to set for each — the user may never have meant the
    /// CLI at all.
    pub fn tried_in_order(&self) -> Option<String> {
        if self.kind != CredentialKind::Auto || self.resolved_kind() != CredentialKind::AzureCli {
            return None;
        }
        let p = &self.env_prefix;
        Some(format!(
            "no credential is configured, so the Azure CLI's sign-in was tried last. Tried, in \
             order: a client secret ({p}AZURE_CLIENT_SECRET unset), a certificate \
             ({p}AZURE_CLIENT_CERTIFICATE_PATH unset), workload identity \
             ({p}AZURE_FEDERATED_TOKEN_FILE unset), a managed identity (IDENTITY_ENDPOINT unset: \
             not on an Azure host), the Azure CLI (`az login`). Set {p}AZURE_CLIENT_ID with \
             {p}AZURE_CLIENT_SECRET or {p}AZURE_CLIENT_CERTIFICATE_PATH, run `az login`, or name \
             one with --credential (guide: 'Auditing a live tenant')"
        ))
    }

    /// The credential `auto` resolves to.
    pub fn resolved_kind(&self) -> CredentialKind {
        match self.kind {
            CredentialKind::Auto if self.client_secret.is_some() => CredentialKind::Secret,
            CredentialKind::Auto if self.certificate_path.is_some() => CredentialKind::Certificate,
            CredentialKind::Auto if self.federated_token_file.is_some() => {
                CredentialKind::WorkloadIdentity
            }
            CredentialKind::Auto if self.managed_identity_available => {
                CredentialKind::ManagedIdentity
            }
            CredentialKind::Auto => CredentialKind::AzureCli,
            kind => kind,
        }
    }

    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_root.trim_end_matches('/'))
    }

    /// The credential these settings name. Graph and Blob Storage both take their tokens
    /// from it, each for its own audience.
    pub fn credential(
        &self,
        http: &reqwest::Client,
    ) -> Result<Arc<dyn TokenCredential>, GraphError> {
        let fail = |message: String| GraphError::new(GraphErrorKind::Auth, "credential", message);
        let mut custom = CustomConfiguration::default();
        custom.authority_host = self.authority_host.clone();
        let client_options = ClientOptions {
            transport: Some(super::transport::for_credentials(http)),
            cloud: Some(Arc::new(CloudConfiguration::from(custom))),
            ..Default::default()
        };
        let client_id = || {
            self.client_id
                .clone()
                .ok_or_else(|| fail("no client id: pass --client-id or set AZURE_CLIENT_ID".into()))
        };
        let credential: Arc<dyn TokenCredential> = match self.resolved_kind() {
            CredentialKind::Secret => {
                let secret = self
                    .client_secret
                    .clone()
                    .ok_or_else(|| fail("no client secret: set AZURE_CLIENT_SECRET".into()))?;
                ClientSecretCredential::new(
                    &self.tenant_id,
                    client_id()?,
                    secret,
                    Some(ClientSecretCredentialOptions { client_options }),
                )
                .map_err(|e| fail(e.to_string()))?
            }
            CredentialKind::Certificate => {
                let path = self.certificate_path.clone().ok_or_else(|| {
                    fail("no certificate: set AZURE_CLIENT_CERTIFICATE_PATH".into())
                })?;
                let bytes = std::fs::read(&path)
                    .map_err(|e| fail(format!("reading certificate `{}`: {e}", path.display())))?;
                ClientCertificateCredential::new(
                    self.tenant_id.clone(),
                    client_id()?,
                    SecretBytes::from(bytes),
                    Some(ClientCertificateCredentialOptions {
                        client_options,
                        password: self.certificate_password.clone(),
                    }),
                )
                .map_err(|e| fail(format!("certificate `{}`: {e}", path.display())))?
            }
            CredentialKind::ManagedIdentity => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: self.client_id.clone().map(UserAssignedId::ClientId),
                    client_options,
                }))
                .map_err(|e| fail(e.to_string()))?
            }
            CredentialKind::WorkloadIdentity => {
                WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions { client_options },
                    client_id: Some(client_id()?),
                    tenant_id: Some(self.tenant_id.clone()),
                    token_file_path: self.federated_token_file.clone(),
                }))
                .map_err(|e| fail(e.to_string()))?
            }
            CredentialKind::AzureCli | CredentialKind::Auto => {
                AzureCliCredential::new(Some(AzureCliCredentialOptions {
                    tenant_id: Some(self.tenant_id.clone()),
                    ..Default::default()
                }))
                .map_err(|e| fail(e.to_string()))?
            }
        };
        Ok(credential)
    }
}

/// Hands out bearer tokens. `azure_identity` caches and refreshes them before expiry; after a
/// `401` the client calls [`Authenticator::renew`], which starts over with a fresh credential.
pub struct Authenticator {
    settings: CredentialSettings,
    http: reqwest::Client,
    current: Mutex<Arc<dyn TokenCredential>>,
}

impl Authenticator {
    pub fn new(settings: CredentialSettings, http: reqwest::Client) -> Result<Self, GraphError> {
        let credential = settings.credential(&http)?;
        Ok(Authenticator {
            settings,
            http,
            current: Mutex::new(credential),
        })
    }

    pub async fn token(&self) -> Result<Secret, GraphError> {
        self.token_for(&self.settings.scope()).await
    }

    /// A token for another audience from the same credential (a SharePoint origin's
    /// `https://{tenant}.sharepoint.com/.default`).
    pub async fn token_for(&self, scope: &str) -> Result<Secret, GraphError> {
        let credential = self.current.lock().await.clone();
        credential
            .get_token(&[scope], None)
            .await
            .map(|token| token.token)
            .map_err(|e| {
                // Display only: the Debug form carries the token endpoint's whole response.
                let message = e.to_string();
                match super::transport::permanent_hint(&e) {
                    // The sign-in endpoint cannot be reached at all: say why, not "check the
                    // credential".
                    Some(hint) => GraphError::new(
                        GraphErrorKind::Unreachable(hint),
                        "token",
                        format!(
                            "the sign-in authority cannot be reached: {}",
                            first_line(&message)
                        ),
                    ),
                    None => GraphError::new(
                        GraphErrorKind::Auth,
                        "token",
                        match self.settings.tried_in_order() {
                            Some(tried) => format!("{tried}: {}", first_line(&message)),
                            None => first_line(&message),
                        },
                    ),
                }
            })
    }

    /// Drops the cached token by rebuilding the credential.
    pub async fn renew(&self) -> Result<(), GraphError> {
        let fresh = self.settings.credential(&self.http)?;
        *self.current.lock().await = fresh;
        Ok(())
    }

    pub fn kind(&self) -> CredentialKind {
        self.settings.resolved_kind()
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secret: bool, cert: bool, token_file: bool, msi: bool) -> CredentialSettings {
        CredentialSettings {
            kind: CredentialKind::Auto,
            tenant_id: "t".into(),
            client_id: Some("c".into()),
            client_secret: secret.then(|| Secret::from("s3cr3t-value".to_string())),
            certificate_path: cert.then(|| PathBuf::from("c.pfx")),
            certificate_password: None,
            federated_token_file: token_file.then(|| PathBuf::from("token")),
            authority_host: Cloud::Global.authority_host().into(),
            graph_root: Cloud::Global.graph_root().into(),
            managed_identity_available: msi,
            env_prefix: "APPLY_".into(),
        }
    }

    #[test]
    fn a_failed_fallback_to_the_cli_says_what_was_tried_and_what_to_set() {
        let tried = settings(false, false, false, false)
            .tried_in_order()
            .unwrap();
        for expected in [
            "APPLY_AZURE_CLIENT_SECRET unset",
            "APPLY_AZURE_CLIENT_CERTIFICATE_PATH unset",
            "APPLY_AZURE_FEDERATED_TOKEN_FILE unset",
            "IDENTITY_ENDPOINT unset",
            "az login",
            "--credential",
        ] {
            assert!(tried.contains(expected), "{expected}: {tried}");
        }
        assert_eq!(settings(true, false, false, false).tried_in_order(), None);
        let mut chosen = settings(false, false, false, false);
        chosen.kind = CredentialKind::AzureCli;
        assert_eq!(chosen.tried_in_order(), None, "the user chose the CLI");
    }

    #[test]
    fn auto_picks_in_documented_order() {
        assert_eq!(
            settings(true, true, true, true).resolved_kind(),
            CredentialKind::Secret
        );
        assert_eq!(
            settings(false, true, true, true).resolved_kind(),
            CredentialKind::Certificate
        );
        assert_eq!(
            settings(false, false, true, true).resolved_kind(),
            CredentialKind::WorkloadIdentity
        );
        assert_eq!(
            settings(false, false, false, true).resolved_kind(),
            CredentialKind::ManagedIdentity
        );
        assert_eq!(
            settings(false, false, false, false).resolved_kind(),
            CredentialKind::AzureCli
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", settings(true, false, false, false));
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn clouds_pair_authority_and_graph() {
        assert_eq!(
            Cloud::UsGovL5.graph_root(),
            "https://dod-graph.microsoft.us"
        );
        assert_eq!(
            Cloud::UsGovL5.authority_host(),
            "https://login.microsoftonline.us"
        );
        assert_eq!(
            Cloud::China.authority_host(),
            "https://login.chinacloudapi.cn"
        );
        assert_eq!(
            settings(false, false, false, false).scope(),
            "https://graph.microsoft.com/.default"
        );
    }
}
