//! A local HTTPS receiver for webhook posts (Teams Workflows, generic webhooks): it records
//! each request's path, headers and body, and answers with a status the test sets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::server::{make_certificate, TlsListener};
use crate::state::lock;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Post {
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Post {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Inbox {
    posts: Mutex<Vec<Post>>,
    status: AtomicU16,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// Its self-signed certificate (PEM), for the client to trust.
    pub ca_pem: String,
    pub addr: SocketAddr,
    inbox: Arc<Inbox>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    /// Starts on 127.0.0.1 (an ephemeral port) on the current runtime, answering `status`.
    pub async fn start(status: u16) -> Result<Receiver, String> {
        crate::install_crypto_provider();
        let (ca_pem, tls) = make_certificate()?;
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding the receiver: {e}"))?;
        let addr = tcp.local_addr().map_err(|e| e.to_string())?;
        let listener = TlsListener::new(tcp, tls).map_err(|e| e.to_string())?;
        let inbox = Arc::new(Inbox {
            posts: Mutex::new(Vec::new()),
            status: AtomicU16::new(status),
        });
        let app = Router::new().fallback(receive).with_state(inbox.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await;
        });
        Ok(Receiver {
            url: format!("https://127.0.0.1:{}", addr.port()),
            ca_pem,
            addr,
            inbox,
            _stop: stop,
        })
    }

    pub fn posts(&self) -> Vec<Post> {
        lock(&self.inbox.posts).clone()
    }

    /// The status later requests get.
    pub fn answer_with(&self, status: u16) {
        self.inbox.status.store(status, Ordering::SeqCst);
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let post = Post {
        target: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    lock(&inbox.posts).push(post);
    StatusCode::from_u16(inbox.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}
