//! Which transport failures can heal by themselves. A refused connection, a failed DNS lookup
//! or a certificate that does not verify will fail the same way on every retry: such failures
//! end the request at once with a hint, instead of minutes of backoff. Timeouts, resets and
//! dropped connections stay transient.
//!
//! Also the transport `azure_identity` signs in through: the same reqwest client, wrapped so
//! that azure_core's own retry policy does not retry a permanent failure either.

use std::error::Error as StdError;
use std::sync::Arc;

use azure_core::error::{Error as AzureError, ErrorKind as AzureErrorKind};
use azure_core::http::{AsyncRawResponse, HttpClient, Request, Transport};

/// Why a failure will not heal, and what to check; `None` for a transient one.
pub fn permanent_hint(error: &(dyn StdError + 'static)) -> Option<&'static str> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = current {
        if error.downcast_ref::<rustls::Error>().is_some() {
            return Some(TLS_HINT);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Some(REFUSED_HINT);
            }
            // rustls reports a failed verification as an io::Error wrapping its own error.
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return Some(TLS_HINT);
            }
        }
        let text = error.to_string().to_ascii_lowercase();
        if text.contains("invalid peer certificate") || text.contains("certificate verif") {
            return Some(TLS_HINT);
        }
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return Some(DNS_HINT);
        }
        if text.contains("connection refused") {
            return Some(REFUSED_HINT);
        }
        current = error.source();
    }
    None
}

const TLS_HINT: &str = "the server's certificate did not verify: set SSL_CERT_FILE to the CA bundle that signs it (a private CA or a TLS-inspecting proxy), and check the machine's clock";
const DNS_HINT: &str =
    "the host name did not resolve: check the URL, DNS and proxy settings (HTTPS_PROXY)";
const REFUSED_HINT: &str =
    "nothing accepts connections there: check the URL and port, and any proxy (HTTPS_PROXY)";

/// The reqwest client as azure_core's transport, marking permanent failures as such.
#[derive(Debug)]
struct Classifying(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for Classifying {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        match self.0.execute_request(request).await {
            Err(error) => match permanent_hint(&error) {
                // azure_core retries only `Io` and `Connection` kinds.
                Some(hint) => Err(AzureError::with_message(
                    AzureErrorKind::Other,
                    format!("{}: {hint}", entra_model::error::chain(&error)),
                )),
                None => Err(error),
            },
            ok => ok,
        }
    }
}

/// The transport for the Azure SDK clients: azure_identity's credentials and azure_storage_blob
/// (the one reqwest client, with permanent failures marked so that azure_core does not retry them).
pub fn for_credentials(http: &reqwest::Client) -> Transport {
    Transport::new(Arc::new(Classifying(http.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_dns_are_permanent_timeouts_are_not() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(permanent_hint(&refused), Some(REFUSED_HINT));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(permanent_hint(&reset), None);
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(permanent_hint(&timeout), None);
        let dns = std::io::Error::other("dns error: failed to lookup address information");
        assert_eq!(permanent_hint(&dns), Some(DNS_HINT));
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(permanent_hint(&tls), Some(TLS_HINT));
    }
}
