//! The daemon's journald records besides the turn's (`TurnReport::log`): each is one log
//! record whose key-values become journal fields (MESSAGE_ID=, HEARKEN_EVENT=, ...), so
//! `journalctl -u hearken HEARKEN_EVENT=state` (or `device`, `llm`) lists them.
//!
//! - `state`: the conversation entered a state (STATE=, STATUS= the words `systemctl
//!   status` shows);
//! - `device`: a microphone or speaker was lost and is being reopened, or is back
//!   (DEVICE=capture|playback, DEVICE_NAME=, DEVICE_STATE=lost|back);
//! - `llm`: the LLM server could not be reached, or answers again (LLM_STATE=unreachable|back,
//!   REASON=).

use crate::pipeline::State;

/// Target of every record here (filter with RUST_LOG=hearken::event=...).
pub const EVENT_TARGET: &str = "hearken::event";
pub const STATE_MESSAGE_ID: &str = "7d65867db58a43a88258475367989429";
pub const DEVICE_MESSAGE_ID: &str = "c502369331b940138643aa0ef4a7e47e";
pub const LLM_MESSAGE_ID: &str = "5df73f762c9243549ccb4bbdd89def14";

/// The conversation entered `state`; `status` is what `systemctl status` now shows.
pub fn state(state: State, status: &str) {
    let name = format!("{state:?}").to_lowercase();
    record(
        log::Level::Info,
        &[
            ("message_id", STATE_MESSAGE_ID),
            ("hearken_event", "state"),
            ("state", &name),
            ("status", status),
        ],
        format_args!("state: {name} ({status})"),
    );
}

/// Which device an outage is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Capture,
    Playback,
}

impl Device {
    fn as_str(self) -> &'static str {
        match self {
            Device::Capture => "capture",
            Device::Playback => "playback",
        }
    }
}

/// `device` (an ALSA PCM name) was lost and is being reopened (`lost`), or is back.
pub fn device(device: Device, name: &str, lost: bool) {
    let (level, state, what) = if lost {
        (log::Level::Warn, "lost", "lost; reopening it")
    } else {
        (log::Level::Info, "back", "back")
    };
    record(
        level,
        &[
            ("message_id", DEVICE_MESSAGE_ID),
            ("hearken_event", "device"),
            ("device", device.as_str()),
            ("device_name", name),
            ("device_state", state),
        ],
        format_args!("{} device `{name}` {what}", device.as_str()),
    );
}

/// The LLM server is unreachable (`Some(reason)`), or answered again (`None`).
pub fn llm(unreachable: Option<&str>) {
    match unreachable {
        Some(reason) => record(
            log::Level::Warn,
            &[
                ("message_id", LLM_MESSAGE_ID),
                ("hearken_event", "llm"),
                ("llm_state", "unreachable"),
                ("reason", reason),
            ],
            format_args!("LLM unreachable: {reason}"),
        ),
        None => record(
            log::Level::Info,
            &[
                ("message_id", LLM_MESSAGE_ID),
                ("hearken_event", "llm"),
                ("llm_state", "back"),
            ],
            format_args!("LLM server answers again"),
        ),
    }
}

fn record(level: log::Level, fields: &[(&str, &str)], message: std::fmt::Arguments<'_>) {
    if !log::log_enabled!(target: EVENT_TARGET, level) {
        return;
    }
    log::logger().log(
        &log::Record::builder()
            .args(message)
            .level(level)
            .target(EVENT_TARGET)
            .module_path_static(Some(module_path!()))
            .file_static(Some(file!()))
            .key_values(&fields)
            .build(),
    );
}
