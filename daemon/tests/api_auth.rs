//! The API's TCP listener: never open without a token, 401 without the right one, and the
//! token never in the logs. The daemon is asked while its models load (the API is up
//! before them), so these need no full start-up.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{start_at, Daemon};
use common::llm_url;
use hearken::api::client;

const TOKEN: &str = "s3cret-token-4b1d";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon hearing silence, its `[api]` section `api`.
fn start_api(dir: &std::path::Path, api: &str, env: &[(&str, &str)]) -> Daemon {
    start_at(dir, &vec![0; 16_000 * 30], None, &llm_url(), "", api, env)
}

/// The first message of `/v1/events` over `stream`, the token in the query as a browser
/// sends it.
async fn first_event<S>(stream: S, base: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::StreamExt;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("{base}/v1/events?token={TOKEN}"), stream)
            .await
            .expect("the event stream with the token");
    ws.next()
        .await
        .unwrap()
        .unwrap()
        .to_text()
        .unwrap()
        .to_string()
}

#[test]
fn tcp_without_a_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut daemon = start_api(
        dir.path(),
        &format!("listen = \"{listen}\"\ntoken_env = \"HEARKEN_TEST_UNSET_TOKEN\""),
        &[],
    );
    let (status, took) = daemon.wait(Instant::now());
    let log = daemon.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("api.listen")
            && log.contains("HEARKEN_TEST_UNSET_TOKEN")
            && log.contains("token_file"),
        "names what to set: {log}"
    );
    assert!(
        !log.contains("loading"),
        "refused before any model loads: {log}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        std::net::TcpStream::connect(&listen).is_err(),
        "nothing listens on {listen}"
    );
}

#[tokio::test]
async fn tcp_requests_need_the_token_and_it_is_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = start_api(
        dir.path(),
        &format!(
            "listen = \"{listen}\"\ntoken_env = \"HEARKEN_TEST_UNSET_TOKEN\"\ntoken_file = \"{}\"",
            token_file.display()
        ),
        &[],
    );
    daemon.wait_for_socket().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{listen}{path}");

    let none = http.get(url("/v1/state")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_token", "{body}");
    for (name, value) in [
        ("authorization", "Bearer wrong"),
        ("authorization", &format!("Bearer {TOKEN}x")),
        ("cookie", "hearken_token=wrong"),
    ] {
        let r = http
            .get(url("/v1/state"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{name}: {value}");
    }
    let r = http
        .post(url("/v1/talk"))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a command without the token does nothing");
    let r = http.get(url("/?token=wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let bearer = format!("Bearer {TOKEN}");
    let r = http
        .get(url("/v1/state"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(url(&format!("/?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains("/v1/events"),
        "the talk page"
    );
    let r = http
        .get(url("/health"))
        .header("cookie", format!("theme=dark; hearken_token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 200 || r.status() == 503, "{}", r.status());

    // The browser's event stream: the token in the query.
    let tcp = tokio::net::TcpStream::connect(&listen).await.unwrap();
    let refused = tokio_tungstenite::client_async(format!("ws://{listen}/v1/events"), tcp).await;
    assert!(refused.is_err(), "a WebSocket without the token is refused");
    let tcp = tokio::net::TcpStream::connect(&listen).await.unwrap();
    let first = first_event(tcp, &format!("ws://{listen}")).await;
    assert!(first.contains("\"state\""), "{first}");

    // The unix socket needs none.
    assert_eq!(
        client::get(&daemon.socket(), "/v1/state")
            .await
            .unwrap()
            .status,
        200
    );

    let log = daemon.log();
    assert!(log.contains(&listen), "the listener is logged: {log}");
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
}

/// A self-signed certificate for 127.0.0.1, made with the openssl command line as a user
/// would (README, "The talk page from a phone").
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=hearken.local"])
        .args(["-addext", "subjectAltName=DNS:hearken.local,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

#[tokio::test]
async fn the_tcp_listener_serves_https_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = start_api(
        dir.path(),
        &format!(
            "listen = \"{listen}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            key.display()
        ),
        &[("HEARKEN_API_TOKEN", TOKEN)],
    );
    daemon.wait_for_socket().await;
    let pem = std::fs::read(&cert).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = |path: &str| format!("https://{listen}{path}");

    let none = https.get(url("/v1/state")).send().await.unwrap();
    assert_eq!(none.status(), 401, "the token is still required");
    let page = https
        .get(url(&format!("/?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("/v1/events"),
        "the talk page"
    );
    let state = https
        .get(url("/v1/state"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), 200);

    // Nothing is served in clear on it.
    let clear = reqwest::Client::new()
        .get(format!("http://{listen}/v1/state"))
        .bearer_auth(TOKEN)
        .send()
        .await;
    assert!(
        clear.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP got an answer"
    );

    // The page's event stream over TLS (wss://), as a phone's browser opens it.
    let connector = tokio_native_tls::TlsConnector::from(
        tokio_native_tls::native_tls::TlsConnector::builder()
            .add_root_certificate(
                tokio_native_tls::native_tls::Certificate::from_pem(&pem).unwrap(),
            )
            .build()
            .unwrap(),
    );
    let tcp = tokio::net::TcpStream::connect(&listen).await.unwrap();
    let tls = connector.connect("127.0.0.1", tcp).await.unwrap();
    let first = first_event(tls, &format!("wss://{listen}")).await;
    assert!(first.contains("\"state\""), "{first}");

    let log = daemon.log();
    assert!(log.contains(&format!("https://{listen}")), "{log}");
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
}

#[test]
fn a_certificate_that_does_not_load_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed(dir.path());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut daemon = start_api(
        dir.path(),
        &format!(
            "listen = \"{listen}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            // The certificate as its own key: a PEM file, but not a key.
            cert.display()
        ),
        &[("HEARKEN_API_TOKEN", TOKEN)],
    );
    let (status, _) = daemon.wait(Instant::now());
    let log = daemon.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("api.tls_key") && log.contains(&cert.display().to_string()),
        "names the key and the file: {log}"
    );
}
