//! Another system answering hearken's turns: Home Assistant's Assist pipeline over
//! Wyoming (see `crate::wyoming::satellite`). The turn lifecycle stays hearken's own: the
//! wake word, the button, VAD, earcons, LEDs and barge-in are local, and the turn's answer
//! is the remote's speech instead of the LLM's, played as that turn's [`super::ReplyLife`]
//! through the output thread. When the remote is gone (or never answers) the local LLM
//! answers the same turn.

use std::time::Duration;

use super::timeline::Trigger;

/// Turn ids from here up are announcements (the API's `say`, the remote's), spoken as
/// answers of their own but not turns of the conversation, so the state machine ignores
/// them. [`super::Handle::announcement_turn`] numbers them.
pub const ANNOUNCEMENT_TURNS: u64 = 1 << 48;

/// How long an answer may wait for the remote's speech before hearken answers itself.
pub const REMOTE_ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// Speech from the remote to play.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSpeech {
    /// The turn it answers, or an id from [`ANNOUNCEMENT_TURNS`] on for an announcement.
    pub turn: u64,
    pub text: String,
    pub rate: u32,
    pub samples: Vec<i16>,
}

pub trait Remote: Send + Sync {
    /// A turn began: the remote takes it (returns true, and hears its audio from now on)
    /// when it is there to answer.
    fn take_turn(&self, turn: u64, trigger: &Trigger) -> bool;
    /// Whether the remote still answers `turn` (it may have gone since it took it).
    fn answers(&self, turn: u64) -> bool;
    /// Every captured frame (16 kHz mono), from the capture side.
    fn hear(&self, frame: &[i16]);
    /// The speech of `turn` finished playing (or was cut off).
    fn played(&self, turn: u64);
}
