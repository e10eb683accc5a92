use serde::{Deserialize, Serialize};

use crate::config::checked;

/// What ends the user's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnMode {
    /// Smart Turn decides at each pause; `fallback_ms` of silence ends the turn regardless.
    Smart,
    /// A fixed silence (`[vad] min_silence_ms`) ends the turn.
    Silence,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TurnConfig {
    pub mode: TurnMode,
    /// Manifest bundle name or path to the Smart Turn .onnx (smart mode).
    #[serde(deserialize_with = "model")]
    pub model: String,
    /// Probability above which smart mode takes the turn as complete.
    #[serde(deserialize_with = "checked::fraction")]
    pub threshold: f32,
    /// Silence after speech at which the detector is asked and speculation starts.
    #[serde(deserialize_with = "checked::u32_in::<_, 50, 5_000>")]
    pub pause_ms: u32,
    /// Smart mode: silence that ends the turn whatever the detector says.
    #[serde(deserialize_with = "checked::u32_in::<_, 100, 10_000>")]
    pub fallback_ms: u32,
    /// Start the final decode, the LLM request and the first clause's synthesis at the pause,
    /// before the turn is confirmed (discarded if the user goes on).
    pub speculate: bool,
    /// Inference threads for the Smart Turn model.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 64>")]
    pub threads: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            mode: TurnMode::Silence,
            model: "smart-turn-v3.2".into(),
            threshold: 0.5,
            pause_ms: 200,
            fallback_ms: 1600,
            speculate: false,
            threads: 1,
        }
    }
}

fn model<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    crate::models::choice(d, &["turn"], "")
}

impl TurnConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.model)
    }
}
