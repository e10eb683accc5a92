//! Opening ONNX models with `ort` on hearken's one ONNX Runtime.

use std::path::{Path, PathBuf};

use ort::session::Session;

use crate::models::{ModelError, ModelRef, ModelStore};

/// A CPU session with one intra-op thread: these models are tiny and run every 32-80 ms, where
/// thread hand-offs cost more than they save, and the Pi's other cores belong to ASR and TTS.
pub fn session(path: &Path) -> Result<Session, String> {
    let runtime = crate::native::onnxruntime().map_err(|e| e.to_string())?;
    let mut builder = Session::builder(runtime.env())
        .map_err(|e| e.to_string())?
        .with_intra_threads(1)
        .map_err(|e| e.to_string())?
        .with_inter_threads(1)
        .map_err(|e| e.to_string())?;
    builder.commit_from_file(path).map_err(|e| e.to_string())
}

/// The .onnx file a bundle name or a path stands for. A bundle resolves to its only
/// `.onnx` file, or to `preferred` when it has several.
pub fn resolve_model(
    store: &ModelStore,
    model: &ModelRef,
    preferred: Option<&str>,
) -> Result<PathBuf, ModelError> {
    match model {
        ModelRef::Path(path) => {
            if path.is_file() {
                Ok(path.clone())
            } else {
                Err(ModelError::Missing {
                    path: path.clone(),
                    fetch: "check the path in your config (it names a model file of your own)"
                        .into(),
                })
            }
        }
        ModelRef::Bundle(name) => {
            let bundle = store.bundle(name)?;
            let file = preferred
                .and_then(|p| bundle.files().find(|f| f.name == p))
                .or_else(|| bundle.files().find(|f| f.name.ends_with(".onnx")))
                .ok_or_else(|| ModelError::UnknownFile {
                    bundle: name.clone(),
                    file: preferred.unwrap_or("*.onnx").to_string(),
                })?;
            store.file(name, &file.name)
        }
    }
}
