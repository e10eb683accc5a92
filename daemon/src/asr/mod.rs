//! Speech recognition on sherpa-onnx: streaming (OnlineRecognizer) and offline over VAD
//! segments (OfflineRecognizer).

mod config;

pub use config::AsrConfig;
