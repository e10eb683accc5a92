//! hearken: an always-on voice appliance daemon.
//!
//! Audio flows capture → wake word / VAD → ASR → LLM → TTS → playback; see DESIGN.md.

pub mod aec;
pub mod api;
pub mod asr;
pub mod audio;
pub mod config;
pub mod hw;
pub mod llm;
pub mod models;
pub mod native;
pub mod pipeline;
pub mod service;
pub mod tts;
pub mod turn;
pub mod vad;
pub mod wake;
pub mod wyoming;
