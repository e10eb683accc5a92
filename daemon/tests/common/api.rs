//! Talking to a running daemon's API over its unix socket: the event stream, control
//! requests and metrics, as the API tests use them.

use std::path::Path;
use std::time::Duration;

use futures::{Stream, StreamExt};
use hearken::api::client;
use serde_json::Value;
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::daemon::Daemon;

pub type Ws = WebSocketStream<UnixStream>;

/// A WebSocket to `path` (`/v1/events`, `/v1/voice`) on `socket`.
pub async fn connect(socket: &Path, path: &str) -> Ws {
    let stream = UnixStream::connect(socket).await.unwrap();
    tokio_tungstenite::client_async(format!("ws://hearken{path}"), stream)
        .await
        .unwrap_or_else(|e| panic!("WS {path}: {e}"))
        .0
}

/// `WS /v1/events` on `socket`.
pub async fn events(socket: &Path) -> Ws {
    connect(socket, "/v1/events").await
}

/// Reads notices until one matches `want`; returns every notice read, the match last.
pub async fn until(ws: &mut Ws, within: Duration, want: impl Fn(&Value) -> bool) -> Vec<Value> {
    let notices = ws.by_ref().filter_map(|message| async move {
        match message.expect("a WebSocket message") {
            Message::Text(text) => Some(serde_json::from_str(&text).unwrap()),
            _ => None,
        }
    });
    until_in(&mut std::pin::pin!(notices), within, want).await
}

/// [`until`] over notices already parsed (a client read by a task of its own).
pub async fn until_in(
    notices: &mut (impl Stream<Item = Value> + Unpin),
    within: Duration,
    want: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let v = tokio::time::timeout_at(deadline, notices.next())
            .await
            .unwrap_or_else(|_| panic!("no matching event within {within:?}; saw {seen:#?}"))
            .expect("the event stream ended");
        let done = want(&v);
        seen.push(v);
        if done {
            return seen;
        }
    }
}

pub fn is_state(state: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == "state" && v["state"] == state
}

pub async fn post(daemon: &Daemon, path: &str, body: Value) -> Value {
    let answer = client::post(&daemon.socket(), path, &body.to_string())
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.json().unwrap()
}

pub async fn metrics(daemon: &Daemon) -> prometheus_parse::Scrape {
    let answer = client::get(&daemon.socket(), "/metrics").await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let lines = answer.body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text")
}

/// The value of the sample `metric` whose labels include `labels`.
pub fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value::*;
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no {metric} {labels:?}"));
    match &s.value {
        Counter(v) | Gauge(v) | Untyped(v) => *v,
        Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
        Summary(_) => panic!("{metric} is a summary"),
    }
}
