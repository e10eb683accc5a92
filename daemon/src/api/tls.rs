//! HTTPS for the TCP listener. Browsers give a page the microphone only in a secure
//! context, so a phone on the LAN can use the talk page only over TLS; the unix socket
//! never needs it. The system's OpenSSL through native-tls, as the LLM client uses.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_native_tls::{native_tls, TlsAcceptor};

use super::error::ApiError;

/// A client that has not finished its handshake by then is dropped, so a silent
/// connection cannot hold a task forever.
const HANDSHAKE: Duration = Duration::from_secs(10);

pub struct Tls(Arc<TlsAcceptor>);

impl Tls {
    /// The certificate chain and its PKCS#8 key, both PEM.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, ApiError> {
        let read = |key: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| ApiError::TlsFile {
                key,
                path: path.to_path_buf(),
                source,
            })
        };
        let (cert_pem, key_pem) = (read("api.tls_cert", cert)?, read("api.tls_key", key)?);
        let bad = |e: native_tls::Error| ApiError::Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            message: e.to_string(),
        };
        let identity = native_tls::Identity::from_pkcs8(&cert_pem, &key_pem).map_err(bad)?;
        let acceptor = native_tls::TlsAcceptor::new(identity).map_err(bad)?;
        Ok(Tls(Arc::new(acceptor.into())))
    }
}

/// Serves `app` over TLS on `listener` until the task is aborted, or until accepting
/// fails for good (that error). Each connection is its own task, so a slow handshake
/// holds up no one else and a handler that panics closes only its connection.
pub async fn serve(listener: TcpListener, tls: Tls, app: Router) -> Result<(), std::io::Error> {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(e) if crate::pipeline::supervise::accept_can_go_on(&e) => {
                // Out of file descriptors, mostly: wait for some to close.
                log::warn!("api: accepting a TLS client failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let (tls, app) = (tls.0.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE, tls.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return log::debug!("api: TLS handshake with {peer} failed: {e}"),
                Err(_) => return log::debug!("api: TLS handshake with {peer} timed out"),
            };
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .with_upgrades()
                .await;
            if let Err(e) = served {
                log::debug!("api: TLS client {peer}: {e}");
            }
        });
    }
}
