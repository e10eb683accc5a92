//! The daemon's journal records besides the turn's, as the logger receives them: each is one
//! record whose key-values systemd-journal-logger turns into upper-case journal fields, with
//! its own MESSAGE_ID and HEARKEN_EVENT (state, device, llm), so `journalctl -u hearken
//! HEARKEN_EVENT=device` lists the outages. (The daemon sends them from the status task:
//! service_notify.rs sees the LLM one in a real run.)

mod common;

use common::journal::{self, RECORDS};

use hearken::pipeline::State;
use hearken::service::events::{self, Device};

#[test]
fn state_device_and_llm_records_carry_their_own_event_and_message_id() {
    journal::capture(log::LevelFilter::Info);

    events::state(State::Thinking, "thinking");
    events::device(Device::Capture, "plughw:1,0", true);
    events::device(Device::Capture, "plughw:1,0", false);
    events::device(Device::Playback, "default", true);
    events::llm(Some("connection refused (127.0.0.1:8080)"));
    events::llm(None);

    let records = RECORDS.lock().unwrap();
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(|r| r.target == events::EVENT_TARGET));

    let state = &records[0];
    assert_eq!(state.field("message_id"), Some(events::STATE_MESSAGE_ID));
    assert_eq!(state.field("hearken_event"), Some("state"));
    assert_eq!(state.field("state"), Some("thinking"));
    assert_eq!(state.field("status"), Some("thinking"));
    assert_eq!(state.level, log::Level::Info);

    let lost = &records[1];
    assert_eq!(lost.field("message_id"), Some(events::DEVICE_MESSAGE_ID));
    assert_eq!(lost.field("hearken_event"), Some("device"));
    assert_eq!(lost.field("device"), Some("capture"));
    assert_eq!(lost.field("device_name"), Some("plughw:1,0"));
    assert_eq!(lost.field("device_state"), Some("lost"));
    assert_eq!(lost.level, log::Level::Warn);
    assert!(lost.message.contains("plughw:1,0"), "{}", lost.message);
    assert_eq!(records[2].field("device_state"), Some("back"));
    assert_eq!(records[2].level, log::Level::Info);
    assert_eq!(records[3].field("device"), Some("playback"));

    let down = &records[4];
    assert_eq!(down.field("message_id"), Some(events::LLM_MESSAGE_ID));
    assert_eq!(down.field("hearken_event"), Some("llm"));
    assert_eq!(down.field("llm_state"), Some("unreachable"));
    assert_eq!(
        down.field("reason"),
        Some("connection refused (127.0.0.1:8080)")
    );
    assert_eq!(records[5].field("llm_state"), Some("back"));

    // Three events, three MESSAGE_IDs, none the turn's.
    let mut ids = [
        events::STATE_MESSAGE_ID,
        events::DEVICE_MESSAGE_ID,
        events::LLM_MESSAGE_ID,
        hearken::pipeline::timeline::TURN_MESSAGE_ID,
    ];
    ids.sort();
    assert!(ids.windows(2).all(|w| w[0] != w[1]));
}
