//! The local API of a running daemon, over its real unix socket: the real pipeline on
//! file-backed devices, real models and the local LLM server (behind a forwarder this test
//! can switch off). One daemon for the whole file: its microphone hears one question at
//! the start and another about a minute later, after every API check, and must still
//! answer it.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::api::{events, is_state, metrics, post, sample, until};
use common::daemon::{start_at, Daemon};
use common::rig::{conversation, pipe, Part};
use common::{host_port, llm_url};
use futures::{SinkExt, StreamExt};
use hearken::api::client;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A TCP forwarder to the LLM server that can be switched off (its port then refuses
/// connections, as a stopped server's does) and on again on the same port.
struct Forwarder {
    port: u16,
    on: Arc<AtomicBool>,
}

impl Forwarder {
    fn start(upstream: &str) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let on = Arc::new(AtomicBool::new(true));
        let f = Forwarder { port, on };
        f.serve(listener, host_port(upstream));
        f
    }

    fn serve(&self, listener: TcpListener, upstream: String) {
        let on = self.on.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while on.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            // Dropping the listener closes the port.
        });
    }

    fn off(&self) {
        self.on.store(false, Ordering::SeqCst);
        // Until the accept loop has seen the flag, connections could still be taken.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the forwarder did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn on_again(&self, upstream: &str) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.on.store(true, Ordering::SeqCst);
        self.serve(listener, host_port(upstream));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

fn played_energy(out: &Path, from_byte: u64) -> (u64, f64) {
    let mut bytes = Vec::new();
    std::fs::File::open(out)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let new = &bytes[(from_byte as usize).min(bytes.len())..];
    let samples: Vec<f64> = new
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt();
    (bytes.len() as u64, rms)
}

fn hearken_status(daemon: &Daemon, args: &[&str]) -> String {
    let config = daemon.dir.join("hearken.toml");
    let out = common::hearken()
        .args(["--config", config.to_str().unwrap(), "status"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    common::text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_watches_and_drives_the_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = llm_url();
    let llm = Forwarder::start(&upstream);
    let input = conversation(&[
        Part::Silence(1.0),
        Part::Say("alexa_capital"),
        Part::Silence(55.0),
        Part::Say("alexa_sum"),
        Part::Silence(60.0),
    ]);
    let daemon = start_at(
        dir.path(),
        &input,
        None,
        &llm.url(),
        "max_tokens = 48",
        "max_clients = 4\nmax_frame_bytes = 4096",
        &[],
    );
    daemon.wait_for_socket().await;
    let socket = daemon.socket();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o660, "the socket's mode");
    let mut ws = events(&socket).await;
    let before = metrics(&daemon).await;
    assert_eq!(
        sample(&before, "hearken_turns_total", &[("outcome", "answered")]),
        0.0
    );

    // The microphone's question: its events, in order, then its report.
    let seen = until(&mut ws, Duration::from_secs(120), |v| v["type"] == "turn").await;
    let kinds: Vec<&str> = seen.iter().map(|v| v["type"].as_str().unwrap()).collect();
    eprintln!("events of the first turn: {kinds:?}");
    let position = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {seen:#?}"))
    };
    assert!(position("turn_started") < position("speech_start"));
    assert!(position("speech_start") < position("transcript_partial"));
    assert!(position("speech_start") < position("speech_end"));
    assert!(position("speech_end") < position("transcript_final"));
    assert!(position("transcript_final") < position("assistant_text"));
    // The partials come while the user speaks, each a guess at the same turn's words.
    let turn = &seen[position("turn_started")]["turn"];
    let partials: Vec<(usize, &str)> = seen
        .iter()
        .enumerate()
        .filter(|(_, v)| v["type"] == "transcript_partial")
        .map(|(i, v)| {
            assert_eq!(&v["turn"], turn, "{v}");
            (i, v["text"].as_str().unwrap())
        })
        .collect();
    eprintln!("partials of the first turn: {partials:?}");
    for (i, text) in &partials {
        assert!(
            (position("speech_start")..position("speech_end")).contains(i),
            "a partial outside the speech: {text:?} in {kinds:?}"
        );
        assert!(!text.trim().is_empty());
    }
    assert!(position("assistant_text") < position("turn"));
    let started = &seen[position("turn_started")];
    assert_eq!(started["trigger"], "wake", "{started}");
    let word = started["wake_word"].as_str().unwrap().to_string();
    // The default threshold is 0.5: the score it fired at is above it.
    let score = started["wake_score"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&score), "{started}");
    let transcript = seen[position("transcript_final")]["text"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(transcript.contains("capital"), "{transcript}");
    let streamed: String = seen
        .iter()
        .filter(|v| v["type"] == "assistant_text")
        .map(|v| v["delta"].as_str().unwrap())
        .collect();
    let report = &seen.last().unwrap()["report"];
    assert_eq!(
        report["transcript"].as_str().unwrap().to_lowercase(),
        transcript
    );
    assert!(!streamed.trim().is_empty());
    for state in ["listening", "thinking", "speaking"] {
        assert!(seen.iter().any(is_state(state)), "no {state} in {seen:#?}");
    }
    until(&mut ws, Duration::from_secs(30), is_state("idle")).await;

    // Counters moved, by the turn's report.
    let after = metrics(&daemon).await;
    assert_eq!(
        sample(&after, "hearken_turns_total", &[("outcome", "answered")]),
        1.0
    );
    assert_eq!(
        sample(&after, "hearken_wake_detections_total", &[("word", &word)]),
        1.0
    );
    for stage in ["asr", "llm_first_token", "tts", "response"] {
        assert_eq!(
            sample(&after, "hearken_stage_latency_seconds", &[("stage", stage)]),
            1.0,
            "{stage}"
        );
    }
    assert!(sample(&after, "hearken_resident_memory_bytes", &[]) > 10e6);
    let state = client::get(&socket, "/v1/state")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(state["state"], "idle");
    assert_eq!(state["last_turn"]["transcript"], report["transcript"]);

    // Talk, stop, mute: each seen as a state change on the event stream.
    post(&daemon, "/v1/talk", json!({})).await;
    let seen = until(&mut ws, Duration::from_secs(10), is_state("listening")).await;
    assert!(
        seen.iter()
            .any(|v| v["type"] == "turn_started" && v["trigger"] == "button"),
        "{seen:#?}"
    );
    post(&daemon, "/v1/stop", json!({})).await;
    until(&mut ws, Duration::from_secs(10), is_state("idle")).await;
    post(&daemon, "/v1/mute", json!({"muted": true})).await;
    until(&mut ws, Duration::from_secs(10), is_state("muted")).await;
    post(&daemon, "/v1/mute", json!({"muted": false})).await;
    until(&mut ws, Duration::from_secs(10), is_state("idle")).await;

    // Say: spoken into the playback device.
    let out = dir.path().join("out.raw");
    let (size_before, _) = played_energy(&out, 0);
    let said = post(
        &daemon,
        "/v1/say",
        json!({"text": "The washing machine has finished."}),
    )
    .await;
    let id = said["id"].clone();
    let seen = until(&mut ws, Duration::from_secs(60), |v| {
        v["type"] == "say_done" && v["id"] == id
    })
    .await;
    assert!(
        seen.iter().any(|v| v["type"] == "say" && v["id"] == id),
        "{seen:#?}"
    );
    let played = seen.last().unwrap()["played"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(played.contains("washing machine"), "{played}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (size_after, rms) = played_energy(&out, size_before);
    assert!(
        size_after > size_before + 16_000,
        "{size_before} -> {size_after} bytes"
    );
    assert!(rms > 100.0, "the announcement is audible: rms {rms}");

    // Health: the LLM server goes away and comes back.
    let health = client::get(&socket, "/health").await.unwrap();
    let h = health.json().unwrap();
    assert_eq!(health.status, 200, "{h}");
    assert_eq!(h["status"], "ok", "{h}");
    for c in ["capture", "playback", "models", "llm"] {
        assert_eq!(h["components"][c]["status"], "ok", "{c}: {h}");
    }
    llm.off();
    let h = client::get(&socket, "/health")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["components"]["llm"]["status"], "failing", "{h}");
    assert!(
        h["components"]["llm"]["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{h}"
    );
    llm.on_again(&upstream);
    let h = client::get(&socket, "/health")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["status"], "ok", "{h}");

    // Bad input: a clear error each, and nothing changes.
    let turns = client::get(&socket, "/v1/state")
        .await
        .unwrap()
        .json()
        .unwrap()["turns"]
        .clone();
    let bad = |path: &'static str, body: &'static str| {
        let socket = socket.clone();
        async move { client::post(&socket, path, body).await.unwrap() }
    };
    let a = bad("/v1/mute", "{\"muted\": tru").await;
    assert_eq!(
        (a.status, a.json().unwrap()["error"]["code"].clone()),
        (400, json!("malformed_json")),
        "{}",
        a.body
    );
    let a = bad("/v1/mute", "{\"muted\": \"yes\"}").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("muted"), "names the key: {}", a.body);
    let a = bad("/v1/say", "{\"txt\": \"hello\"}").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("txt"), "names the key: {}", a.body);
    let a = bad("/v1/say", "{\"text\": \"   \"}").await;
    assert_eq!(
        a.json().unwrap()["error"]["code"],
        "empty_text",
        "{}",
        a.body
    );
    let a = client::request(&socket, "POST", "/v1/frobnicate", Some("{}"))
        .await
        .unwrap();
    assert_eq!(a.status, 404, "{}", a.body);
    let big = json!({"text": "word ".repeat(2000)}).to_string();
    let a = client::post(&socket, "/v1/say", &big).await.unwrap();
    assert_eq!(a.status, 413, "{}", a.body);
    // An oversized WebSocket message closes that connection only.
    let mut greedy = events(&socket).await;
    let _ = greedy.send(Message::Text("x".repeat(10_000).into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match greedy.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an oversized message closes the connection");
    drop(greedy);

    // Too many clients: the fifth is refused while four are connected, served once one leaves.
    let mut extra = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let a = client::get(&socket, "/v1/state").await.unwrap();
        if a.status == 503 {
            break a;
        }
        assert!(
            Instant::now() < deadline && extra.len() < 4,
            "never refused: {}",
            a.body
        );
        extra.push(events(&socket).await);
    };
    assert_eq!(extra.len(), 3, "the limit is 4 with the event stream open");
    assert_eq!(refused.json().unwrap()["error"]["code"], "too_many_clients");
    for mut w in extra.drain(..) {
        w.close(None).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while client::get(&socket, "/v1/state").await.unwrap().status != 200 {
        assert!(Instant::now() < deadline, "slots are given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = client::get(&socket, "/v1/state")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(state["turns"], turns, "the bad requests changed nothing");
    assert_eq!(state["state"], "idle");

    // The microphone path still answers: the second question.
    let seen = until(&mut ws, Duration::from_secs(150), |v| {
        v["type"] == "turn" && v["report"]["trigger"] == "wake"
    })
    .await;
    let report = &seen.last().unwrap()["report"];
    assert!(!report["reply"].as_str().unwrap().is_empty(), "{report}");
    // `hearken status` asks the same socket.
    let status = hearken_status(&daemon, &[]);
    eprintln!("{status}");
    assert!(
        status.contains("idle") && status.contains("LLM first token"),
        "{status}"
    );
    let json: Value = serde_json::from_str(&hearken_status(&daemon, &["--json"])).unwrap();
    assert_eq!(json["last_turn"]["turn"], report["turn"], "{json}");
    assert_eq!(json["health"]["status"], "ok", "{json}");
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
    let _ = std::io::stderr().flush();
}
