use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TtsConfig {
    /// Manifest bundle of a Piper voice, or a path to its .onnx (the .onnx.json beside it).
    pub voice: String,
    /// Speaker id for multi-speaker voices.
    pub speaker_id: u32,
    /// Output gain applied to synthesized speech (1.0 = as the voice produces it).
    pub volume: f32,
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            voice: "piper-en_US-joe-medium".into(),
            speaker_id: 0,
            volume: 1.0,
        }
    }
}

impl TtsConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.voice)
    }
}
