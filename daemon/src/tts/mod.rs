//! Text to speech: Piper voices via `ort`, phonemized with espeak-ng.

mod config;

pub use config::TtsConfig;
