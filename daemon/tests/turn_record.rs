//! The turn's journal record as the logger receives it: `TurnReport::log` sends one info
//! record whose key-values are the journal fields (systemd-journal-logger turns each into
//! an upper-case journal field), and what was said only at debug level.

mod common;

use common::journal::{self, Captured, RECORDS};
use std::time::{Duration, Instant};

use hearken::pipeline::{Timeline, TurnReport};

#[test]
fn a_turn_is_one_info_record_with_its_journal_fields() {
    journal::capture(log::LevelFilter::Trace);
    let t0 = Instant::now();
    let ms = |m: u64| Some(t0 + Duration::from_millis(m));
    let report = TurnReport {
        turn: 7,
        wake_word: Some("alexa".into()),
        wake_score: Some(0.84),
        trigger: "wake",
        transcript: "What is the capital of France?".into(),
        reply: "The capital of France is Paris.".into(),
        interrupted: true,
        fallback: false,
        error: None,
        no_speech: false,
        speculation: "none",
        speculations_discarded: 0,
        started: Some(t0),
        timeline: Timeline {
            wake: ms(0),
            speech_start: ms(300),
            speech_end: ms(2000),
            endpoint: ms(2600),
            asr_final: ms(2800),
            llm_request: ms(2810),
            llm_first_token: ms(3100),
            first_chunk: ms(3300),
            first_tts_audio: ms(3500),
            first_sample_written: ms(3520),
            playback_end: ms(6000),
        }
        .to_ms(),
    };
    report.log();

    let records = RECORDS.lock().unwrap();
    let info: Vec<&Captured> = records
        .iter()
        .filter(|r| r.level <= log::Level::Info)
        .collect();
    assert_eq!(info.len(), 1, "one record per turn above debug");
    let record = info[0];
    assert_eq!(record.target, "hearken::turn");
    let field = |k: &str| record.field(k);
    assert_eq!(
        field("message_id"),
        Some(hearken::pipeline::timeline::TURN_MESSAGE_ID)
    );
    assert_eq!(field("hearken_event"), Some("turn"));
    assert_eq!(field("turn"), Some("7"));
    assert_eq!(field("trigger"), Some("wake"));
    assert_eq!(field("wake_word"), Some("alexa"));
    assert_eq!(field("wake_score"), Some("0.840"));
    assert_eq!(field("transcript_chars"), Some("30"));
    assert_eq!(field("outcome"), Some("interrupted"));
    for (stage, value) in [
        ("wake_ms", "0"),
        ("speech_end_ms", "2000"),
        ("turn_decision_ms", "600"),
        ("asr_ms", "200"),
        ("llm_ms", "290"),
        ("first_sentence_ms", "200"),
        ("tts_ms", "200"),
        ("first_sample_written_ms", "3520"),
        ("response_ms", "1520"),
        ("pipeline_overhead_ms", "630"),
        ("playback_end_ms", "6000"),
    ] {
        assert_eq!(field(stage), Some(value), "{stage}");
    }
    // Transcripts never above debug.
    assert!(!record.message.contains("France"), "{}", record.message);
    assert!(
        record.fields.iter().all(|(_, v)| !v.contains("France")),
        "{:?}",
        record.fields
    );
    assert!(records
        .iter()
        .any(|r| r.level == log::Level::Debug && r.message.contains("capital of France")));
}
