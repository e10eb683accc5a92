//! The daemon's journal records besides the turn's, as the logger receives them: each is one
//! record whose key-values systemd-journal-logger turns into upper-case journal fields, with
//! its own MESSAGE_ID and HEARKEN_EVENT (state, device, llm), so `journalctl -u hearken
//! HEARKEN_EVENT=device` lists the outages. (The daemon sends them from the status task:
//! service_notify.rs sees the LLM one in a real run.)

use std::sync::Mutex;

use hearken::pipeline::State;
use hearken::service::events::{self, Device};

struct Captured {
    level: log::Level,
    target: String,
    message: String,
    fields: Vec<(String, String)>,
}

static RECORDS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        struct Fields(Vec<(String, String)>);
        impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push((key.to_string(), value.to_string()));
                Ok(())
            }
        }
        let mut fields = Fields(Vec::new());
        record.key_values().visit(&mut fields).unwrap();
        RECORDS.lock().unwrap().push(Captured {
            level: record.level(),
            target: record.target().to_string(),
            message: record.args().to_string(),
            fields: fields.0,
        });
    }
    fn flush(&self) {}
}

fn field<'a>(record: &'a Captured, key: &str) -> Option<&'a str> {
    record
        .fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn state_device_and_llm_records_carry_their_own_event_and_message_id() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Info);

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
    assert_eq!(field(state, "message_id"), Some(events::STATE_MESSAGE_ID));
    assert_eq!(field(state, "hearken_event"), Some("state"));
    assert_eq!(field(state, "state"), Some("thinking"));
    assert_eq!(field(state, "status"), Some("thinking"));
    assert_eq!(state.level, log::Level::Info);

    let lost = &records[1];
    assert_eq!(field(lost, "message_id"), Some(events::DEVICE_MESSAGE_ID));
    assert_eq!(field(lost, "hearken_event"), Some("device"));
    assert_eq!(field(lost, "device"), Some("capture"));
    assert_eq!(field(lost, "device_name"), Some("plughw:1,0"));
    assert_eq!(field(lost, "device_state"), Some("lost"));
    assert_eq!(lost.level, log::Level::Warn);
    assert!(lost.message.contains("plughw:1,0"), "{}", lost.message);
    assert_eq!(field(&records[2], "device_state"), Some("back"));
    assert_eq!(records[2].level, log::Level::Info);
    assert_eq!(field(&records[3], "device"), Some("playback"));

    let down = &records[4];
    assert_eq!(field(down, "message_id"), Some(events::LLM_MESSAGE_ID));
    assert_eq!(field(down, "hearken_event"), Some("llm"));
    assert_eq!(field(down, "llm_state"), Some("unreachable"));
    assert_eq!(
        field(down, "reason"),
        Some("connection refused (127.0.0.1:8080)")
    );
    assert_eq!(field(&records[5], "llm_state"), Some("back"));

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
