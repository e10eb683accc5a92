use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VadConfig {
    /// Manifest bundle name or path to a Silero VAD .onnx.
    pub model: String,
    /// Speech probability above which a window counts as speech.
    pub threshold: f32,
    /// Shorter bursts of speech are ignored.
    pub min_speech_ms: u32,
    /// Silence needed to end a speech segment.
    pub min_silence_ms: u32,
    /// Padding added on both sides of a segment.
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

impl VadConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.model)
    }
}
