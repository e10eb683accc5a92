//! The listeners: the unix socket (mode 0660) and the optional token-protected TCP one;
//! the client limit both share.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::auth;
use super::config::ApiConfig;
use super::error::{ApiError, Refusal};
use super::tls::Tls;

/// The running API; dropping it stops serving and removes the socket.
pub struct Server {
    tasks: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connected client's place under `[api] max_clients`, held for as long as it is served
/// (a WebSocket keeps it until it closes).
#[derive(Clone)]
pub struct ClientSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

pub async fn client_slot(
    State(clients): State<Arc<Semaphore>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Ok(permit) = clients.clone().try_acquire_owned() else {
        return Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_clients",
            "too many clients are connected (api.max_clients); try again later",
        )
        .into_response();
    };
    request
        .extensions_mut()
        .insert(ClientSlot(Arc::new(permit)));
    next.run(request).await
}

pub async fn bind(
    config: &ApiConfig,
    router: Router,
    collector: JoinHandle<()>,
) -> Result<Server, ApiError> {
    let mut server = Server {
        tasks: vec![collector],
        socket: None,
    };
    // The token first: a TCP listener without one must not even be bound.
    let tcp = if config.listen.is_empty() {
        None
    } else {
        let token = config.token().map_err(|source| ApiError::TokenFile {
            path: config.token_file.clone(),
            source,
        })?;
        if token.is_empty() {
            return Err(ApiError::NoToken {
                listen: config.listen.clone(),
                env: config.token_env.clone(),
            });
        }
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ApiError::Listen {
                    listen: config.listen.clone(),
                    source,
                })?;
        let tls = match (
            config.tls_cert.as_os_str().is_empty(),
            config.tls_key.as_os_str().is_empty(),
        ) {
            (true, true) => None,
            _ => Some(Tls::load(&config.tls_cert, &config.tls_key)?),
        };
        Some((listener, token, tls))
    };
    if !config.socket.as_os_str().is_empty() {
        let listener = bind_socket(&config.socket)
            .await
            .map_err(|source| ApiError::Socket {
                path: config.socket.clone(),
                source,
            })?;
        server.socket = Some(config.socket.clone());
        log::info!("api: listening on {}", config.socket.display());
        let app = router.clone();
        server.tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                log::error!("api: the unix socket stopped: {e}");
            }
        }));
    }
    if let Some((listener, token, tls)) = tcp {
        let app = auth::require(router, token);
        server.tasks.push(match tls {
            Some(tls) => {
                log::info!(
                    "api: listening on https://{} (token required)",
                    config.listen
                );
                tokio::spawn(super::tls::serve(listener, tls, app))
            }
            None => {
                log::info!(
                    "api: listening on http://{} (token required)",
                    config.listen
                );
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        log::error!("api: the TCP listener stopped: {e}");
                    }
                })
            }
        });
    }
    Ok(server)
}

/// Binds the socket, replacing a stale one (left by a daemon that died) but never a live
/// one, and opens it to the owner and the group only.
async fn bind_socket(path: &Path) -> std::io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another process is serving it (is hearken already running?)",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}
