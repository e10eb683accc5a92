//! `WS /v1/voice` on a running daemon: a recorded question streamed over the real unix
//! socket comes back as partials, a final transcript, the answer's text and audio that the
//! ASR recognises, and `done`; bad input gets an error each; the microphone keeps
//! answering throughout.

mod common;

use std::time::{Duration, Instant};

use common::api::{connect, Ws};
use common::daemon::start;
use common::rig::{conversation, Part};
use futures::{SinkExt, StreamExt};
use hearken::asr::text::word_errors;
use hearken::audio::wav;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The next message: JSON for text, the bytes for binary; `None` once closed.
async fn next(ws: &mut Ws, within: Duration) -> Option<Result<Value, Vec<u8>>> {
    loop {
        let m = tokio::time::timeout(within, ws.next())
            .await
            .expect("a message in time");
        match m {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
            Some(Ok(Message::Text(t))) => return Some(Ok(serde_json::from_str(&t).unwrap())),
            Some(Ok(Message::Binary(b))) => return Some(Err(b.to_vec())),
            Some(Ok(_)) => {}
        }
    }
}

async fn expect_error(ws: &mut Ws, code: &str) -> Value {
    let v = next(ws, Duration::from_secs(30))
        .await
        .expect("an answer")
        .expect("JSON");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(!v["message"].as_str().unwrap().is_empty(), "{v}");
    v
}

fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_voice_session_talks_with_the_daemon_s_own_engines() {
    let dir = tempfile::tempdir().unwrap();
    // The microphone's question comes once the remote session is done.
    let input = conversation(&[
        Part::Silence(40.0),
        Part::Say("alexa_sum"),
        Part::Silence(60.0),
    ]);
    let daemon = start(dir.path(), &input, None, "max_tokens = 48");
    daemon.wait_for_socket().await;
    let socket = daemon.socket();
    let mut events = connect(&socket, "/v1/events").await;
    let mut ws = connect(&socket, "/v1/voice").await;

    // Bad input first: an error each, and the session goes on.
    ws.send(Message::Binary(vec![0u8; 3200].into()))
        .await
        .unwrap();
    expect_error(&mut ws, "not_started").await;
    ws.send(Message::Text("{\"type\": \"start\"".into()))
        .await
        .unwrap();
    expect_error(&mut ws, "malformed_json").await;
    ws.send(Message::Text("{\"type\": \"dance\"}".into()))
        .await
        .unwrap();
    let e = expect_error(&mut ws, "unknown_type").await;
    assert!(e["message"].as_str().unwrap().contains("dance"), "{e}");
    ws.send(Message::Text(
        json!({"type": "start", "sample_rate": 44100})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let e = expect_error(&mut ws, "bad_sample_rate").await;
    assert!(e["message"].as_str().unwrap().contains("44100"), "{e}");
    ws.send(Message::Text(json!({"type": "stop"}).to_string().into()))
        .await
        .unwrap();
    expect_error(&mut ws, "not_started").await;
    // One session at a time.
    let mut second = connect(&socket, "/v1/voice").await;
    expect_error(&mut second, "busy").await;
    assert!(
        next(&mut second, Duration::from_secs(5)).await.is_none(),
        "closed"
    );

    // The question, streamed faster than real time in 100 ms frames, then "stop".
    let question =
        wav::read_16k_i16(&common::repo_root().join("daemon/tests/fixtures/loop/germany.wav"))
            .unwrap();
    ws.send(Message::Text(
        json!({"type": "start", "sample_rate": 16000})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let started = next(&mut ws, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started["type"], "started", "{started}");
    let mut padded = question.clone();
    padded.extend(std::iter::repeat_n(0i16, 8000));
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        for frame in padded.chunks(1600) {
            tx.send(Message::Binary(pcm_bytes(frame).into()))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(Message::Text(json!({"type": "stop"}).to_string().into()))
            .await
            .unwrap();
        tx
    });
    let mut seen: Vec<Value> = Vec::new();
    let mut audio: Vec<i16> = Vec::new();
    let mut rate = 0;
    let mut header_pending = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no done: {seen:#?}");
        let m = tokio::time::timeout(Duration::from_secs(60), rx.next())
            .await
            .expect("in time");
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "audio_chunk" {
                    assert!(header_pending.is_none(), "two headers in a row");
                    header_pending = Some(v["samples"].as_u64().unwrap());
                    rate = v["sample_rate"].as_u64().unwrap() as u32;
                }
                let done = v["type"] == "done";
                seen.push(v);
                if done {
                    break;
                }
            }
            Some(Ok(Message::Binary(b))) => {
                let n = header_pending
                    .take()
                    .expect("a header before each audio frame");
                assert_eq!(b.len() as u64, n * 2);
                audio.extend(b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])));
            }
            other => panic!("the session ended: {other:?}\n{seen:#?}"),
        }
    }
    let tx = sender.await.unwrap();
    let kinds: Vec<&str> = seen.iter().map(|v| v["type"].as_str().unwrap()).collect();
    eprintln!("voice session: {kinds:?}");
    // The recognizer's own endpoint may have ended the question before "stop" arrived.
    for v in &seen {
        if v["type"] == "error" {
            assert_eq!(v["code"], "not_started", "{v}");
        }
    }
    let first = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind}: {seen:#?}"))
    };
    assert!(first("transcript_partial") < first("transcript_final"));
    assert!(first("transcript_final") < first("assistant_text"));
    assert!(first("assistant_text") < first("done"));
    let transcript = seen[first("transcript_final")]["text"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(transcript.contains("germany"), "{transcript}");
    let done = seen.last().unwrap();
    let reply = done["reply"].as_str().unwrap();
    let streamed: String = seen
        .iter()
        .filter(|v| v["type"] == "assistant_text")
        .map(|v| v["delta"].as_str().unwrap())
        .collect();
    assert!(!reply.is_empty() && !streamed.is_empty(), "{done}");
    assert!(
        done["timeline"]["llm_first_token_ms"].as_f64().is_some(),
        "{done}"
    );
    assert!(
        done["timeline"]["first_tts_audio_ms"].as_f64().is_some(),
        "{done}"
    );
    assert_eq!(done["interrupted"], false);

    // The audio says the reply: at no more than 33 characters a second (Piper speaks about
    // 15; the reply may be as short as "Berlin."), and Whisper reads it back.
    let least = 0.03 * reply.chars().count() as f32;
    assert!(
        rate > 0 && audio.len() as f32 >= least * rate as f32,
        "{} samples at {rate} Hz for {reply:?} (at least {least} s)",
        audio.len()
    );
    let wav_path = dir.path().join("answer.wav");
    wav::write_i16(&wav_path, rate, 1, &audio).unwrap();
    let config = dir.path().join("hearken.toml");
    let out = common::hearken()
        .args([
            "-c",
            config.to_str().unwrap(),
            "transcribe",
            "--whole",
            "--json",
        ])
        .arg(&wav_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let heard = common::json_lines(&out.stdout)[0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let (errors, words) = word_errors(reply, &heard);
    eprintln!("reply {reply:?}\nheard {heard:?}: {errors}/{words} word errors");
    assert!(words > 0 && errors * 2 <= words, "{reply:?} -> {heard:?}");

    // An oversized frame closes this session only.
    let mut ws = rx.reunite(tx).unwrap();
    let _ = ws.send(Message::Binary(vec![0u8; 70_000].into())).await;
    while next(&mut ws, Duration::from_secs(10)).await.is_some() {}

    // The microphone path still answers; its turn did not see the remote one.
    let deadline = Instant::now() + Duration::from_secs(150);
    let report = loop {
        assert!(
            Instant::now() < deadline,
            "no microphone turn:\n{}",
            daemon.log()
        );
        let v = next(&mut events, Duration::from_secs(150))
            .await
            .unwrap()
            .unwrap();
        if v["type"] == "turn" {
            break v["report"].clone();
        }
        assert!(
            !(v["type"] == "transcript_final"
                && v["text"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("germany")),
            "the remote question reached the microphone's loop: {v}"
        );
    };
    assert_eq!(report["trigger"], "wake", "{report}");
    assert!(!report["reply"].as_str().unwrap().is_empty(), "{report}");
}
