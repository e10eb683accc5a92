use serde::{Deserialize, Serialize};

use crate::config::checked;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TtsConfig {
    /// Manifest bundle of a Piper voice, or a path to its .onnx (the .onnx.json beside it).
    #[serde(deserialize_with = "voice")]
    pub voice: String,
    /// Speaker id for multi-speaker voices (checked against the voice when it loads).
    pub speaker_id: u32,
    /// Peak level of each spoken chunk, as a fraction of full scale (speech is normalised
    /// to it, so above 1 would only clip).
    #[serde(deserialize_with = "checked::fraction")]
    pub volume: f32,
    /// The first spoken chunk of an answer ends after this many words at the latest, if
    /// no clause has ended before (0: at the first clause). Fewer words: Piper's first
    /// synthesis is shorter and the answer starts sooner, with a choppier first phrase.
    #[serde(deserialize_with = "crate::config::checked::u32_in::<_, 0, 100>")]
    pub first_chunk_words: u32,
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            voice: "piper-en_US-joe-medium".into(),
            speaker_id: 0,
            volume: 1.0,
            first_chunk_words: 0,
        }
    }
}

fn voice<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    crate::models::choice(d, &["tts"], "")
}

impl TtsConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.voice)
    }
}
