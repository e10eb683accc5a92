use serde::{Deserialize, Serialize};

use crate::config::checked;

/// `[aec]`: echo cancellation of hearken's own playback in the capture path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AecConfig {
    /// Cancel the echo of what hearken plays before wake word, VAD and ASR. Needs a live
    /// (or real-time paced) microphone beside the speaker; off, nothing is subtracted and the
    /// wake word competes with hearken's own voice while it speaks.
    pub enabled: bool,
    /// The echo's delay beyond what the playback and capture timestamps account for: the
    /// sound's path and any latency the devices do not report (USB, Bluetooth).
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 1000>")]
    pub delay_ms: u32,
    /// How much echo the adaptive filter covers after the delay: the room's reverberation.
    #[serde(deserialize_with = "checked::u32_in::<_, 20, 1000>")]
    pub tail_ms: u32,
    /// Residual-echo suppression (dB) while only hearken speaks.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 90>")]
    pub suppression_db: u32,
    /// Residual-echo suppression (dB) while the user talks over hearken: low keeps more of
    /// the user's voice (the wake word that interrupts), high lets more echo through.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 90>")]
    pub suppression_active_db: u32,
}

impl Default for AecConfig {
    fn default() -> Self {
        AecConfig {
            enabled: true,
            delay_ms: 0,
            tail_ms: 256,
            suppression_db: 40,
            suppression_active_db: 15,
        }
    }
}
