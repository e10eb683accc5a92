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
    /// Language for multilingual offline models (Whisper, SenseVoice); "" = the model's own.
    pub language: String,
    /// Streaming models: what ends an utterance: `rules` (sherpa's trailing-silence rules),
    /// `vad` (Silero VAD speech end) or `both` (whichever comes first).
    pub endpoint: String,
    /// Trailing-silence preset for the rules: `aggressive`, `default` or `relaxed`.
    pub endpoint_preset: String,
    /// Rule 1: seconds of silence that end an utterance in which nothing was recognised
    /// (0 = from the preset).
    pub rule1_min_trailing_silence: f32,
    /// Rule 2: seconds of silence that end an utterance after some text (0 = from the preset).
    pub rule2_min_trailing_silence: f32,
    /// Rule 3: an utterance longer than this many seconds is ended (0 = from the preset).
    pub rule3_min_utterance_length: f32,
    /// Offline models: while the user still speaks, the growing segment is re-decoded for a
    /// partial result at most this often (and never more often than twice the last decode took).
    pub partial_interval_ms: u32,
    /// Audio kept from before the wake word ended and handed to the recognizer with the turn.
    pub preroll_ms: u32,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model: "asr-whisper-tiny.en".into(),
            provider: "cpu".into(),
            threads: 1,
            language: "en".into(),
            endpoint: "rules".into(),
            endpoint_preset: "default".into(),
            rule1_min_trailing_silence: 0.0,
            rule2_min_trailing_silence: 0.0,
            rule3_min_utterance_length: 0.0,
            partial_interval_ms: 500,
            preroll_ms: 300,
        }
    }
}

/// The three trailing-silence rules of sherpa-onnx's endpointing, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointRules {
    pub rule1: f32,
    pub rule2: f32,
    pub rule3: f32,
}

/// What ends an utterance for a streaming model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointMode {
    Rules,
    Vad,
    Both,
}

impl AsrConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.model)
    }

    /// The rules: the preset's values, each replaced by its explicit key when that is set.
    pub fn endpoint_rules(&self) -> Result<EndpointRules, super::AsrError> {
        let preset = match self.endpoint_preset.as_str() {
            "aggressive" => EndpointRules {
                rule1: 1.2,
                rule2: 0.5,
                rule3: 15.0,
            },
            "default" => EndpointRules {
                rule1: 2.4,
                rule2: 1.2,
                rule3: 20.0,
            },
            "relaxed" => EndpointRules {
                rule1: 3.5,
                rule2: 2.0,
                rule3: 30.0,
            },
            other => {
                return Err(super::AsrError::Config(format!(
                    "asr.endpoint_preset = \"{other}\": use aggressive, default or relaxed"
                )))
            }
        };
        let pick = |v: f32, d: f32| if v > 0.0 { v } else { d };
        Ok(EndpointRules {
            rule1: pick(self.rule1_min_trailing_silence, preset.rule1),
            rule2: pick(self.rule2_min_trailing_silence, preset.rule2),
            rule3: pick(self.rule3_min_utterance_length, preset.rule3),
        })
    }

    pub fn endpoint_mode(&self) -> Result<EndpointMode, super::AsrError> {
        match self.endpoint.as_str() {
            "rules" => Ok(EndpointMode::Rules),
            "vad" => Ok(EndpointMode::Vad),
            "both" => Ok(EndpointMode::Both),
            other => Err(super::AsrError::Config(format!(
                "asr.endpoint = \"{other}\": use rules, vad or both"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_rule_overrides_preset() {
        let cfg = AsrConfig {
            endpoint_preset: "aggressive".into(),
            rule1_min_trailing_silence: 0.8,
            ..AsrConfig::default()
        };
        let rules = cfg.endpoint_rules().unwrap();
        assert_eq!(
            rules,
            EndpointRules {
                rule1: 0.8,
                rule2: 0.5,
                rule3: 15.0
            }
        );
    }

    #[test]
    fn unknown_preset_is_refused_with_choices() {
        let cfg = AsrConfig {
            endpoint_preset: "fast".into(),
            ..AsrConfig::default()
        };
        let err = cfg.endpoint_rules().unwrap_err().to_string();
        assert!(err.contains("aggressive, default or relaxed"), "{err}");
    }
}
