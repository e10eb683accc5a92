use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::checked;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    /// After an answer, listen this long for a follow-up without the wake word (0 = off).
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 60_000>")]
    pub follow_up_ms: u32,
    /// After the wake word (or the button) give up if no speech starts within this long.
    #[serde(deserialize_with = "checked::u32_in::<_, 100, 60_000>")]
    pub no_speech_timeout_ms: u32,
    /// An utterance is cut off after this long.
    #[serde(deserialize_with = "checked::u32_in::<_, 1_000, 120_000>")]
    pub max_utterance_ms: u32,
    pub earcons: EarconConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            follow_up_ms: 5000,
            no_speech_timeout_ms: 5000,
            max_utterance_ms: 15_000,
            earcons: EarconConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EarconConfig {
    pub enabled: bool,
    /// Gain applied to every cue (0..1).
    #[serde(deserialize_with = "checked::fraction")]
    pub volume: f32,
    /// WAV files to play instead of the generated tones ("" = generated).
    pub wake: PathBuf,
    pub done: PathBuf,
    pub error: PathBuf,
}

impl Default for EarconConfig {
    fn default() -> Self {
        EarconConfig {
            enabled: true,
            volume: 0.3,
            wake: PathBuf::new(),
            done: PathBuf::new(),
            error: PathBuf::new(),
        }
    }
}
