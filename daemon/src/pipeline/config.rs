use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    /// After an answer, listen this long for a follow-up without the wake word (0 = off).
    pub follow_up_ms: u32,
    /// After the wake word (or the button) give up if no speech starts within this long.
    pub no_speech_timeout_ms: u32,
    /// An utterance is cut off after this long.
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

impl PipelineConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.earcons.volume) {
            return Err((
                "pipeline.earcons.volume",
                format!("{} is out of range 0..1", self.earcons.volume),
            ));
        }
        if self.max_utterance_ms < 1000 {
            return Err((
                "pipeline.max_utterance_ms",
                format!("{} ms is too short (at least 1000)", self.max_utterance_ms),
            ));
        }
        Ok(())
    }
}
