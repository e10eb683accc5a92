//! Voice activity detection (Silero VAD via `ort`).

mod config;

pub use config::VadConfig;
