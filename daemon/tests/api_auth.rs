//! The API's TCP listener: never open without a token, 401 without the right one, and the
//! token never in the logs. The daemon is asked while its models load (the API is up
//! before them), so these need no full start-up.

mod common;

use std::time::{Duration, Instant};

use common::daemon::start_at;
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

fn silence() -> Vec<i16> {
    vec![0; 16_000 * 30]
}

#[test]
fn tcp_without_a_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut daemon = start_at(
        dir.path(),
        &silence(),
        None,
        &llm_url(),
        "",
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
    let daemon = start_at(
        dir.path(),
        &silence(),
        None,
        &llm_url(),
        "",
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
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{listen}/v1/events?token={TOKEN}"), tcp)
            .await
            .expect("with the token");
    use futures::StreamExt;
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("\"state\""), "{first}");

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
