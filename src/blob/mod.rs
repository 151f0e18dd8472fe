//! Azure Blob Storage as an `--out` location: the URL forms accepted, and the few operations
//! run folders need (list, read with ETag, create-only and ETag-conditional writes, delete,
//! leases), over `azure_storage_blob` with the Graph client's credential chain and HTTP stack.
//!
//! Blob names, never the URL's query, appear in messages: a SAS token is a secret, so a URL
//! with a query is refused outright (the identity's role on the container is what grants access).

pub mod location;

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Etag, RequestContent, StatusCode};
use azure_storage_blob::models::{
    BlobClientAcquireLeaseOptions, BlobClientAcquireLeaseResultHeaders, BlobClientDeleteOptions,
    BlobClientDownloadOptions, BlobContainerClientListBlobsOptions, BlockBlobClientUploadOptions,
};
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use futures_util::TryStreamExt;

pub use location::BlobLocation;

/// What went wrong with a blob, and which one.
#[derive(Debug, thiserror::Error)]
#[error("Blob Storage `{what}`: {message}")]
pub struct BlobError {
    /// The blob or container URL (never with a query).
    pub what: String,
    pub message: String,
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
}

/// How a conditional write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Written; the new ETag.
    Done(String),
    /// The condition failed: the blob exists (create-only) or changed since it was read.
    Conflict,
}

/// How a delete ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    Done,
    Missing,
    /// The service refused: an immutability policy, a legal hold or a lease keeps the blob.
    Kept(String),
}

/// A blob's content and the ETag it was read at.
pub struct Read {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// One container (and the location's prefix inside it), with a credential.
pub struct BlobStore {
    container: BlobContainerClient,
    location: BlobLocation,
}

impl BlobStore {
    /// `http` is the one HTTP client (`graph::build_http_client`); `credential` the chain the
    /// Graph client uses, asked here for the storage audience.
    pub fn new(
        location: BlobLocation,
        credential: Arc<dyn TokenCredential>,
        http: &reqwest::Client,
    ) -> Result<BlobStore, BlobError> {
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                transport: Some(crate::graph::transport::for_credentials(http)),
                ..Default::default()
            },
            ..Default::default()
        };
        let url = location.container_url();
        let container = BlobContainerClient::new(url.clone(), Some(credential), Some(options))
            .map_err(|e| BlobError {
                what: url.to_string(),
                message: e.to_string(),
                status: None,
            })?;
        Ok(BlobStore {
            container,
            location,
        })
    }

    pub fn location(&self) -> &BlobLocation {
        &self.location
    }

    fn blob(&self, name: &str) -> BlobClient {
        self.container.blob_client(name)
    }

    fn fail(&self, name: &str, error: azure_core::Error) -> BlobError {
        BlobError {
            what: self.location.url_of_name(name),
            status: error.http_status().map(u16::from),
            message: describe(&error),
        }
    }

    /// The names of every blob whose name starts with `prefix` (a full name inside the
    /// container), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.to_string()),
            ..Default::default()
        };
        let mut pages = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| self.fail(prefix, e))?
            .into_pages();
        let mut names = Vec::new();
        while let Some(page) = pages.try_next().await.map_err(|e| self.fail(prefix, e))? {
            let page = page.into_model().map_err(|e| self.fail(prefix, e))?;
            for item in page.blob_items {
                if let Some(name) = item.name {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The blob's bytes and ETag; `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Read>, BlobError> {
        let options = BlobClientDownloadOptions {
            // One request per blob: the run files are small, and a ranged, parallel download
            // would read a blob that a writer replaces halfway as two different versions.
            parallel: std::num::NonZero::new(1),
            ..Default::default()
        };
        match self.blob(name).download(Some(options)).await {
            Ok(result) => {
                let etag = result
                    .properties
                    .etag
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                let bytes = result
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.fail(name, e))?;
                Ok(Some(Read {
                    bytes: bytes.to_vec(),
                    etag,
                }))
            }
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(None),
            Err(e) => Err(self.fail(name, e)),
        }
    }

    /// Writes a new blob; never replaces one (`If-None-Match: *`).
    pub async fn create(&self, name: &str, bytes: Vec<u8>) -> Result<Written, BlobError> {
        self.put(name, bytes, Some("*"), None).await
    }

    /// Replaces the blob only if it is still at `etag` (`If-Match`), or creates it only if it
    /// does not exist when `etag` is `None`.
    pub async fn replace(
        &self,
        name: &str,
        bytes: Vec<u8>,
        etag: Option<&str>,
    ) -> Result<Written, BlobError> {
        match etag {
            Some(etag) => self.put(name, bytes, None, Some(etag)).await,
            None => self.put(name, bytes, Some("*"), None).await,
        }
    }

    async fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        if_none_match: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<Written, BlobError> {
        let options = BlockBlobClientUploadOptions {
            if_none_match: if_none_match.map(Etag::from),
            if_match: if_match.map(Etag::from),
            blob_content_type: Some(content_type(name).to_string()),
            ..Default::default()
        };
        let content: RequestContent<azure_core::Bytes, azure_core::http::NoFormat> =
            azure_core::Bytes::from(bytes).into();
        match self.blob(name).upload(content, Some(options)).await {
            Ok(result) => Ok(Written::Done(
                result.etag.map(|e| e.to_string()).unwrap_or_default(),
            )),
            Err(e)
                if matches!(
                    e.http_status(),
                    Some(StatusCode::Conflict | StatusCode::PreconditionFailed)
                ) && error_code(&e).is_none_or(|code| {
                    code == "BlobAlreadyExists" || code == "ConditionNotMet"
                }) =>
            {
                Ok(Written::Conflict)
            }
            Err(e) => Err(self.fail(name, e)),
        }
    }

    /// Deletes the blob; a refusal by policy, hold or lease is reported, not an error.
    pub async fn delete(&self, name: &str) -> Result<Deleted, BlobError> {
        match self
            .blob(name)
            .delete(Some(BlobClientDeleteOptions::default()))
            .await
        {
            Ok(_) => Ok(Deleted::Done),
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(Deleted::Missing),
            Err(e)
                if matches!(
                    e.http_status(),
                    Some(StatusCode::Conflict | StatusCode::PreconditionFailed)
                ) =>
            {
                Ok(Deleted::Kept(
                    error_code(&e).unwrap_or_else(|| describe(&e)),
                ))
            }
            Err(e) => Err(self.fail(name, e)),
        }
    }

    /// Takes a lease of `seconds` (15–60) on an existing blob; `None` when another holds it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        seconds: i32,
    ) -> Result<Option<String>, BlobError> {
        let proposed = proposed_lease_id();
        let options = BlobClientAcquireLeaseOptions {
            proposed_lease_id: Some(proposed.clone()),
            ..Default::default()
        };
        match self.blob(name).acquire_lease(seconds, Some(options)).await {
            Ok(response) => Ok(Some(response.lease_id().ok().flatten().unwrap_or(proposed))),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(None),
            Err(e) => Err(self.fail(name, e)),
        }
    }

    pub async fn renew_lease(&self, name: &str, lease: &str) -> Result<(), BlobError> {
        self.blob(name)
            .renew_lease(lease.to_string(), None)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(name, e))
    }

    pub async fn release_lease(&self, name: &str, lease: &str) -> Result<(), BlobError> {
        self.blob(name)
            .release_lease(lease.to_string(), None)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(name, e))
    }
}

/// The service's error code (`x-ms-error-code`), when it sent one.
fn error_code(error: &azure_core::Error) -> Option<String> {
    match error.kind() {
        azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.clone(),
        _ => None,
    }
}

/// One line: status and code when the service answered, else the transport's cause chain.
fn describe(error: &azure_core::Error) -> String {
    match (error.http_status(), error_code(error)) {
        (Some(status), Some(code)) => {
            let hint = match u16::from(status) {
                401 | 403 => {
                    "; the identity needs the Storage Blob Data Contributor role on the container"
                }
                404 if code == "ContainerNotFound" => "; create the container first",
                _ => "",
            };
            format!("{} {code}{hint}", u16::from(status))
        }
        (Some(status), None) => format!("HTTP {}", u16::from(status)),
        _ => entra_model::error::chain(error),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

/// A random version-4 GUID (the service wants a GUID for a proposed lease id).
fn proposed_lease_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_are_guids() {
        let id = proposed_lease_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, proposed_lease_id());
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("a/b/findings.csv"), "text/csv; charset=utf-8");
        assert_eq!(content_type("x/manifest.sig"), "application/octet-stream");
    }
}
