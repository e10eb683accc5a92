//! Wake-word detection (openWakeWord models via `ort`).

mod config;

pub use config::WakeConfig;
