//! The listeners: the unix socket (mode 0660) and the optional token-protected TCP one;
//! the client limit both share.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::auth;
use super::config::ApiConfig;
use super::error::{ApiError, Refusal};
use super::tls::Tls;
use crate::pipeline::supervise::{self, ErrorBudget, Verdict};
use crate::pipeline::Handle;

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

/// Binds the configured listeners and serves them, each in a task supervised for
/// `handle`: one that dies (a panic, accepting failing for good, a socket path removed
/// over and over) stops the loop, naming it, so the daemon exits for systemd to restart.
pub async fn bind(config: &ApiConfig, router: Router, handle: &Handle) -> Result<Server, ApiError> {
    let mut server = Server {
        tasks: Vec::new(),
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
        let (listener, id) =
            bind_socket(&config.socket)
                .await
                .map_err(|source| ApiError::Socket {
                    path: config.socket.clone(),
                    source,
                })?;
        server.socket = Some(config.socket.clone());
        log::info!("api: listening on {}", config.socket.display());
        server.tasks.push(supervise::spawn_task(
            "api socket",
            handle.on_exit(),
            serve_socket(config.socket.clone(), listener, id, router.clone()),
        ));
    }
    if let Some((listener, token, tls)) = tcp {
        let app = auth::require(router, token);
        server.tasks.push(match tls {
            Some(tls) => {
                log::info!(
                    "api: listening on https://{} (token required)",
                    config.listen
                );
                supervise::spawn_task(
                    "api tcp",
                    handle.on_exit(),
                    super::tls::serve(listener, tls, app),
                )
            }
            None => {
                log::info!(
                    "api: listening on http://{} (token required)",
                    config.listen
                );
                supervise::spawn_task("api tcp", handle.on_exit(), async move {
                    Err::<(), _>(serve_sorted(listener, app).await)
                })
            }
        });
    }
    Ok(server)
}

/// Binds the socket, replacing a stale one (left by a daemon that died) but never a live
/// one, and opens it to the owner and the group only; the listener, and which file it is.
async fn bind_socket(path: &Path) -> std::io::Result<(UnixListener, (u64, u64))> {
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
    Ok((listener, socket_id(path)?))
}

/// A socket path removed this often within [`REBIND_WINDOW`] is not bound again: something
/// keeps deleting it (a tmpfiles rule on the wrong directory), and a restart says so.
const MAX_REBINDS: usize = 3;
const REBIND_WINDOW: Duration = Duration::from_secs(60);
/// How often the socket's path is checked: removing it tells the listening socket
/// nothing, and clients then find no API although the daemon listens on.
const PATH_CHECK: Duration = Duration::from_secs(1);

/// Serves the unix socket at `path` (the file `ours`); binds it again when the path is
/// removed or replaced. Ends only with the error it cannot get past.
async fn serve_socket(
    path: PathBuf,
    mut listener: UnixListener,
    mut ours: (u64, u64),
    app: Router,
) -> Result<(), std::io::Error> {
    let named = |e: std::io::Error, what: &str| {
        std::io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
    };
    let mut rebinds = ErrorBudget::new(MAX_REBINDS, REBIND_WINDOW);
    loop {
        tokio::select! {
            e = serve_sorted(listener, app.clone()) => {
                return Err(named(e, "accepting clients failed for good"));
            }
            () = path_changes(&path, ours) => {}
        }
        let verdict = rebinds.record(Instant::now());
        if let Verdict::Exhausted { count } = verdict {
            return Err(std::io::Error::other(format!(
                "{}: removed {count} times within {} s; not binding it again",
                path.display(),
                REBIND_WINDOW.as_secs()
            )));
        }
        (listener, ours) = bind_socket(&path)
            .await
            .map_err(|e| named(e, "cannot listen on it again"))?;
        // Once it is there again, so that the line means clients can connect.
        if let Verdict::Log { .. } = verdict {
            log::warn!(
                "api: the socket {} was removed; listening on it again",
                path.display()
            );
        }
    }
}

/// Which socket file `path` is now.
fn socket_id(path: &Path) -> std::io::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Returns once `path` is no longer the socket `ours`.
async fn path_changes(path: &Path, ours: (u64, u64)) {
    loop {
        tokio::time::sleep(PATH_CHECK).await;
        if socket_id(path).ok() != Some(ours) {
            return;
        }
    }
}

/// Serves `app` on `listener` (axum: each connection its own task, so a handler that
/// panics closes its connection and nothing else) until accepting fails for good; that
/// error. axum itself would retry such an error every second forever.
async fn serve_sorted<L>(listener: L, app: Router) -> std::io::Error
where
    Sorted<L>: axum::serve::Listener,
    <Sorted<L> as axum::serve::Listener>::Addr: std::fmt::Debug,
{
    use std::future::IntoFuture;
    let (fatal, failed) = oneshot::channel();
    let sorted = Sorted {
        inner: listener,
        fatal: Some(fatal),
    };
    tokio::select! {
        served = axum::serve(sorted, app).into_future() => std::io::Error::other(format!(
            "the server stopped: {served:?}"
        )),
        e = failed => e.unwrap_or_else(|_| std::io::Error::other("the server stopped")),
    }
}

/// A listener whose accept errors are sorted: those an accept loop can get past are
/// waited out, the first one it cannot goes to `fatal` and accepting stops.
struct Sorted<L> {
    inner: L,
    fatal: Option<oneshot::Sender<std::io::Error>>,
}

impl<L> Sorted<L> {
    async fn sort<C>(&mut self, accepted: std::io::Result<C>) -> Option<C> {
        match accepted {
            Ok(connection) => return Some(connection),
            Err(e) if supervise::accept_can_go_on(&e) => {
                // Out of file descriptors, mostly: wait for some to close.
                log::warn!("api: accepting a client failed: {e}");
            }
            Err(e) => {
                if let Some(fatal) = self.fatal.take() {
                    let _ = fatal.send(e);
                }
                return std::future::pending().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        None
    }
}

/// axum's `Listener` for a [`Sorted`] tokio listener: its own `accept`, errors sorted.
macro_rules! sorted_listener {
    ($listener:ty, $io:ty, $addr:ty) => {
        impl axum::serve::Listener for Sorted<$listener> {
            type Io = $io;
            type Addr = $addr;

            async fn accept(&mut self) -> (Self::Io, Self::Addr) {
                loop {
                    let accepted = self.inner.accept().await;
                    if let Some(connection) = self.sort(accepted).await {
                        return connection;
                    }
                }
            }

            fn local_addr(&self) -> std::io::Result<Self::Addr> {
                self.inner.local_addr()
            }
        }
    };
}

sorted_listener!(
    UnixListener,
    tokio::net::UnixStream,
    tokio::net::unix::SocketAddr
);
sorted_listener!(TcpListener, tokio::net::TcpStream, std::net::SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client;
    use axum::routing::get;

    /// The real listener code with a router that has a handler that panics (a bug), on a
    /// unix socket in a temporary directory.
    async fn serving(dir: &Path) -> (Server, PathBuf) {
        let socket = dir.join("api.sock");
        let config = ApiConfig {
            socket: socket.clone(),
            ..ApiConfig::default()
        };
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("index out of range in a handler");
                    }
                    "never"
                }),
            );
        let pipeline = crate::pipeline::Pipeline::new();
        let server = bind(&config, router, &pipeline.handle()).await.unwrap();
        (server, socket)
    }

    #[tokio::test]
    async fn a_handler_that_panics_closes_its_connection_and_the_api_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (server, socket) = serving(dir.path()).await;
        assert!(client::get(&socket, "/boom").await.is_err());
        for _ in 0..3 {
            let answer = client::get(&socket, "/health").await.unwrap();
            assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
        }
        drop(server);
        assert!(!socket.exists(), "the socket is removed at the stop");
    }

    #[tokio::test]
    async fn a_removed_socket_path_is_bound_again() {
        let _ = env_logger::builder().is_test(true).try_init();
        let dir = tempfile::tempdir().unwrap();
        let (_server, socket) = serving(dir.path()).await;
        std::fs::remove_file(&socket).unwrap();
        assert!(client::get(&socket, "/health").await.is_err());
        let deadline = Instant::now() + PATH_CHECK * 5;
        loop {
            if let Ok(answer) = client::get(&socket, "/health").await {
                assert_eq!(answer.status, 200);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never bound again: {:?} {:?}",
                socket_id(&socket),
                client::get(&socket, "/health").await.err()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o660, "bound again as it was at the start");
    }
}
