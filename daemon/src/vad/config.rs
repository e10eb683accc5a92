use serde::{Deserialize, Serialize};

use crate::config::checked;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VadConfig {
    /// Manifest bundle name or path to a Silero VAD .onnx.
    #[serde(deserialize_with = "model")]
    pub model: String,
    /// Speech probability above which a window counts as speech.
    #[serde(deserialize_with = "checked::fraction")]
    pub threshold: f32,
    /// Shorter bursts of speech are ignored.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 10_000>")]
    pub min_speech_ms: u32,
    /// Silence needed to end a speech segment.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 10_000>")]
    pub min_silence_ms: u32,
    /// Padding added on both sides of a segment.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 2_000>")]
    pub speech_pad_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            model: "silero-vad".into(),
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 600,
            speech_pad_ms: 30,
        }
    }
}

fn model<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    crate::models::choice(d, &["vad"], "")
}

impl VadConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.model)
    }
}
