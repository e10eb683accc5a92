use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AsrConfig {
    /// Manifest bundle (`asr-whisper-tiny.en`, `asr-streaming-zipformer-en-20M-2023-02-17`, ...).
    pub model: String,
    /// ONNX Runtime provider: `cpu`, `cuda`, ... (the sherpa-onnx build must include it).
    pub provider: String,
    /// Inference threads; on 2 cores 1 measures faster than 2.
    pub threads: u32,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model: "asr-whisper-tiny.en".into(),
            provider: "cpu".into(),
            threads: 1,
        }
    }
}

impl AsrConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.model)
    }
}
