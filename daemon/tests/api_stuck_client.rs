//! Clients that stop reading, over the daemon's real unix socket with the real pipeline:
//! one on `WS /v1/events`, one on `WS /v1/voice`. The daemon buffers a bounded amount for
//! each (the notice backlog, the socket's buffer), then disconnects it; its memory stays
//! flat and the microphone keeps answering, both while the stuck client is connected and
//! after it is gone.

mod common;

use std::time::Duration;

use common::api::{connect, events, is_state, metrics, post, sample, until_in, Ws};
use common::daemon::{start, Daemon};
use common::rig::{conversation, Part};
use futures::{SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Mute on and off this many times: two state notices each, far more than the socket
/// and the notice backlog hold for a client that does not read.
const TOGGLES: usize = 400;
/// Messages a stuck voice client tries to send: far more than the daemon reads before the
/// answers it cannot deliver fill the socket.
const VOICE_MESSAGES: usize = 50_000;

/// Reads `ws` for as long as it is open, passing on each notice: a client that keeps up.
fn keep_reading(mut ws: Ws) -> impl Stream<Item = Value> + Unpin {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                if tx.send(serde_json::from_str(&text).unwrap()).is_err() {
                    return;
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Waits for the daemon to log one of `said`; false if it does not within `within`.
async fn logged(daemon: &Daemon, said: &[&str], within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let log = daemon.log();
        if said.iter().any(|s| log.contains(s)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn answered_by_the_microphone(v: &Value) -> bool {
    v["type"] == "turn"
        && v["report"]["trigger"] == "wake"
        && !v["report"]["reply"].as_str().unwrap_or("").is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_are_disconnected_and_the_loop_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(&[
        Part::Silence(1.0),
        Part::Say("alexa_capital"),
        Part::Silence(50.0),
        Part::Say("alexa_sum"),
        Part::Silence(60.0),
    ]);
    let daemon = start(dir.path(), &input, None, "max_tokens = 48");
    daemon.wait_for_socket().await;
    let socket = daemon.socket();
    // Connected before anything happens, and never read from until the end.
    let mut stuck = events(&socket).await;
    let mut watcher = keep_reading(events(&socket).await);

    // The microphone's first question is answered while the stuck client is connected.
    until_in(
        &mut watcher,
        Duration::from_secs(120),
        answered_by_the_microphone,
    )
    .await;
    until_in(&mut watcher, Duration::from_secs(30), is_state("idle")).await;
    let rss_before = sample(
        &metrics(&daemon).await,
        "hearken_resident_memory_bytes",
        &[],
    );

    // A flood of notices: the reading client gets every one of them.
    for _ in 0..TOGGLES {
        post(&daemon, "/v1/mute", json!({"muted": true})).await;
        post(&daemon, "/v1/mute", json!({"muted": false})).await;
    }
    let mut mutes = 0;
    while mutes < TOGGLES {
        until_in(&mut watcher, Duration::from_secs(30), is_state("muted")).await;
        mutes += 1;
    }
    until_in(&mut watcher, Duration::from_secs(30), is_state("idle")).await;

    // The stuck client was cut off while it still read nothing (once it reads, the
    // daemon's send goes through); what it can read now is what the daemon had buffered
    // for it when it gave up, then the end: far less than the flood.
    assert!(
        logged(
            &daemon,
            &[
                "an event client stopped reading; disconnecting it",
                "events behind; disconnecting it"
            ],
            Duration::from_secs(30)
        )
        .await,
        "the stuck event client was not disconnected:\n{}",
        daemon.log()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut buffered = 0usize;
    let ended = loop {
        match tokio::time::timeout_at(deadline, stuck.next()).await {
            Err(_) => break false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break true,
            Ok(Some(Ok(Message::Text(_)))) => buffered += 1,
            Ok(Some(Ok(_))) => {}
        }
    };
    eprintln!(
        "the stuck client had {buffered} notices buffered of more than {} sent",
        2 * TOGGLES
    );
    assert!(ended, "the stuck client is still connected");
    assert!(
        buffered < 2 * TOGGLES,
        "{buffered} notices were kept for a client that did not read"
    );

    // A remote voice session that stops reading: every message it sends has an answer
    // (`stop` before `start` is an error), which it never takes.
    let (mut tx, mut rx) = connect(&socket, "/v1/voice").await.split();
    let writer = tokio::spawn(async move {
        let stop = Message::Text(json!({"type": "stop"}).to_string().into());
        let mut sent = 0;
        while sent < VOICE_MESSAGES && tx.send(stop.clone()).await.is_ok() {
            sent += 1;
        }
        sent
    });
    let sent = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the daemon disconnected the voice client")
        .unwrap();
    assert!(
        logged(
            &daemon,
            &["a voice client stopped reading; disconnecting it"],
            Duration::from_secs(30)
        )
        .await,
        "{}",
        daemon.log()
    );
    let mut answered = 0usize;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(m)) = rx.next().await {
            if matches!(m, Message::Text(_)) {
                answered += 1;
            }
        }
    })
    .await;
    eprintln!("the stuck voice client sent {sent} messages and had {answered} answers buffered");
    assert!(ended.is_ok(), "the stuck voice client is still connected");
    assert!(sent < VOICE_MESSAGES, "the daemon read all {sent} messages");
    assert!(
        answered < sent,
        "{answered} answers were kept for {sent} messages"
    );
    // Memory stays flat: a few MB of slack for the allocator, not a copy of either flood.
    let rss_after = sample(
        &metrics(&daemon).await,
        "hearken_resident_memory_bytes",
        &[],
    );
    eprintln!(
        "RSS {:.1} MB before the flood, {:.1} MB after",
        rss_before / 1e6,
        rss_after / 1e6
    );
    assert!(
        rss_after - rss_before < 16e6,
        "RSS grew from {rss_before} to {rss_after}"
    );

    // The stuck voice session is over: the next one is served, not refused as busy (it
    // loads a recognizer of its own, hence after the memory was measured).
    let mut voice = connect(&socket, "/v1/voice").await;
    voice
        .send(Message::Text(
            json!({"type": "start", "sample_rate": 16000})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let started = tokio::time::timeout(Duration::from_secs(60), voice.next())
        .await
        .expect("an answer to start")
        .unwrap()
        .unwrap();
    assert!(
        started.to_text().unwrap().contains("\"started\""),
        "{started}"
    );
    voice.close(None).await.unwrap();

    // The microphone's second question is answered after it.
    until_in(
        &mut watcher,
        Duration::from_secs(150),
        answered_by_the_microphone,
    )
    .await;
    assert!(!daemon.log().contains("panicked"));
}
