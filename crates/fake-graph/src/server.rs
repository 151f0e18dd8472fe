//! The HTTPS front of the fake Graph server: the runtime self-signed certificate, a TLS
//! listener for `axum::serve`, the router (token endpoint, `/_fake/stats`, everything below
//! `/v1.0/`), authentication of Graph requests, and replies (with body faults) as HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::auth::{bearer_token, check_token_request, ClientRules};
use super::batch;
use super::dispatch::{charge, cost_of, dispatch, split_target, Reply};
use super::faults::BodyFault;
use super::query::percent_decode;
pub use super::shared::{Settings, Shared};
use super::state::{lock, Counters};

/// The largest request body read (a `$batch` of 20 requests, or an `adminRemove` request,
/// is a few kilobytes).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A self-signed certificate for `localhost` and `127.0.0.1` and its private key, both PEM:
/// for another local HTTPS server of a test (Azurite takes `--cert` and `--key` files).
pub fn certificate_pair() -> Result<(String, String), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("generating the certificate: {e}"))?;
    Ok((cert.pem(), signing_key.serialize_pem()))
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: its PEM (what clients trust)
/// and a rustls server configuration (ring, HTTP/1.1).
pub fn make_certificate() -> Result<(String, Arc<rustls::ServerConfig>), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("generating the certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((cert.pem(), Arc::new(config)))
}

/// Aborts a task when dropped (the accept loop must not outlive the server).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A TLS listener: a background task accepts TCP connections and runs each handshake in its
/// own task (a client that stalls or rejects the certificate holds up no one).
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    _accept_loop: AbortOnDrop,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, incoming) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let accept_loop = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            incoming,
            local,
            _accept_loop: AbortOnDrop(accept_loop),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop is gone (it only ends when aborted): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_fake/stats", get(stats))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .fallback(graph)
        .with_state(shared)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.stats()).into_response()
}

async fn pause(shared: &Shared) {
    if !shared.settings.latency.is_zero() {
        tokio::time::sleep(shared.settings.latency).await;
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`. Never logs or echoes the form (it holds the secret).
async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    pause(&shared).await;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let settings = &shared.settings;
    let rules = ClientRules {
        tenant_id: &shared.tenant_id,
        client_id: settings.client_id.as_deref(),
        client_secret: settings.client_secret.as_deref(),
    };
    match check_token_request(rules, &tenant, &form) {
        Ok(()) => {
            // check_token_request refuses a request without a client id.
            let client_id = form
                .get("client_id")
                .map(String::as_str)
                .unwrap_or_default();
            let scope = form.get("scope").map(String::as_str).unwrap_or_default();
            // Blob Storage validates a JWT's audience and issuer (Azurite's `--oauth basic`
            // does exactly that, without the signature); Graph tokens stay opaque, and a
            // storage token is never accepted by Graph (it is not in the issued set).
            let by_assertion = form.contains_key("client_assertion");
            let access_token = if crate::auth::is_storage_scope(scope) {
                crate::auth::storage_token(&shared.tenant_id, client_id)
            } else {
                lock(&shared.tokens).issue_for(client_id, scope, by_assertion)
            };
            Counters::add(&shared.counters.tokens_issued, 1);
            tracing::debug!("token issued");
            Json(json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": access_token,
            }))
            .into_response()
        }
        Err(rejected) => {
            tracing::info!(status = rejected.status, error = %rejected.body["error"], "token request rejected");
            let status = StatusCode::from_u16(rejected.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(rejected.body)).into_response()
        }
    }
}

/// Everything else: Graph below `/v1.0/`, authenticated with an issued bearer token.
async fn graph(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    // SharePoint REST lives at its own origin (the second listener), never at Graph's.
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if shared.sharepoint_url.ends_with(&format!("//{host}")) {
        pause(&shared).await;
        return into_http(crate::sharepoint::handle(&shared, &parts));
    }
    let Some(rest) = path.strip_prefix("/v1.0/") else {
        let message = format!("fake-graph serves /v1.0/ only, not `{path}`.");
        return into_http(Reply::error(404, "NotFound", message));
    };
    Counters::add(&shared.counters.requests, 1);
    pause(&shared).await;
    let target = match parts.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_string(),
    };
    let method = parts.method.as_str().to_ascii_uppercase();
    let is_batch = percent_decode(rest.trim_end_matches('/')) == "$batch";
    if is_batch {
        lock(&shared.request_log).push((method.clone(), target.clone()));
    }

    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let client = bearer_token(header).and_then(|token| lock(&shared.tokens).authenticate(token));
    let Some(client) = client else {
        let (path, query) = split_target(&target);
        let cost = if is_batch { 0 } else { cost_of(path, query) };
        tracing::debug!(%method, path = rest, "401: no valid token");
        return into_http(charge(&shared, Reply::unauthenticated(), cost));
    };

    let reply = if is_batch && method != "POST" {
        let reply = Reply::error(405, "Request_BadRequest", "$batch accepts POST only.");
        charge(&shared, reply, 0)
    } else {
        match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(bytes) if is_batch => batch::handle(&shared, &client, &bytes),
            Ok(bytes) => dispatch(&shared, &client, &method, &target, &bytes),
            Err(e) => {
                let (path, query) = split_target(&target);
                let cost = if is_batch { 0 } else { cost_of(path, query) };
                let reply = Reply::error(413, "BadRequest", format!("Request body: {e}"));
                charge(&shared, reply, cost)
            }
        }
    };
    tracing::debug!(%method, path = rest, status = reply.status, fault = ?reply.body_fault, "graph request");
    into_http(reply)
}

/// A reply as HTTP. `Truncate` sends the first half of the JSON; `Drop` sends the status,
/// the headers and half the body, then fails the body stream so hyper aborts the connection.
pub fn into_http(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &reply.headers {
        // from_bytes lower-cases the name (from_static would panic on `Retry-After`).
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let Some(body) = reply.body else {
        return response;
    };
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let bytes = Bytes::from(body.to_string());
    let half = bytes.slice(..bytes.len() / 2);
    *response.body_mut() = match reply.body_fault {
        None => Body::from(bytes),
        Some(BodyFault::Truncate) => Body::from(half),
        Some(BodyFault::Drop) => dropped_body(half),
    };
    response
}

fn dropped_body(first_part: Bytes) -> Body {
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let first_part = first_part.clone();
        async move {
            match step {
                0 => Some((Ok(first_part), 1)),
                1 => {
                    // Let hyper flush the headers and the first part before the failure.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let error = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "fake-graph: injected dropped connection",
                    );
                    Some((Err(error), 2))
                }
                _ => None,
            }
        }
    });
    Body::from_stream(stream)
}
