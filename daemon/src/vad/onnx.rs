//! Opening ONNX models with `ort` on hearken's one ONNX Runtime.

use std::path::{Path, PathBuf};

use ort::session::{Session, SessionOutputs};
use ort::value::DynValue;

use crate::models::{ModelError, ModelRef, ModelStore};

/// A CPU session with one intra-op thread: these models are tiny and run every 32-80 ms, where
/// thread hand-offs cost more than they save, and the Pi's other cores belong to ASR and TTS.
pub fn session(path: &Path) -> Result<Session, String> {
    session_with_threads(path, 1)
}

/// A CPU session with `threads` intra-op threads, for a model heavy enough to share out
/// (Smart Turn's encoder, run once per pause).
pub fn session_with_threads(path: &Path, threads: u32) -> Result<Session, String> {
    let runtime = crate::native::onnxruntime().map_err(|e| e.to_string())?;
    let mut builder = Session::builder(runtime.env())
        .map_err(|e| e.to_string())?
        .with_intra_threads(threads as usize)
        .map_err(|e| e.to_string())?
        .with_inter_threads(1)
        .map_err(|e| e.to_string())?;
    builder.commit_from_file(path).map_err(|e| e.to_string())
}

/// Checks that a loaded model takes every input in `inputs` and produces every output in
/// `outputs` (by name), so a wrong model fails when it is loaded, naming what it has, not
/// at its first frame. An empty `outputs` asks for at least one output of any name.
pub fn check_io(session: &Session, inputs: &[&str], outputs: &[&str]) -> Result<(), String> {
    let has_input = |name: &str| session.inputs().iter().any(|i| i.name() == name);
    let has_output = |name: &str| session.outputs().iter().any(|o| o.name() == name);
    let missing_in: Vec<&str> = inputs.iter().copied().filter(|n| !has_input(n)).collect();
    let missing_out: Vec<&str> = outputs.iter().copied().filter(|n| !has_output(n)).collect();
    if missing_in.is_empty()
        && missing_out.is_empty()
        && (!outputs.is_empty() || !session.outputs().is_empty())
    {
        return Ok(());
    }
    let list = |names: &[&str]| {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let found_in: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let found_out: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let wanted_out = if outputs.is_empty() {
        "at least one output".to_string()
    } else {
        format!("outputs {}", list(outputs))
    };
    Err(format!(
        "not the model hearken expects here: it needs inputs {} and {wanted_out}, but has inputs {} and outputs {}",
        list(inputs),
        list(&found_in),
        list(&found_out)
    ))
}

/// The name of a model's first output (check it exists with [`check_io`] first).
pub fn first_output(session: &Session) -> Result<String, String> {
    session
        .outputs()
        .first()
        .map(|o| o.name().to_string())
        .ok_or_else(|| "the model has no outputs".to_string())
}

/// One named output of a run; an error, not a panic, when the model did not produce it.
pub fn output<'a>(outputs: &'a SessionOutputs<'_>, name: &str) -> Result<&'a DynValue, String> {
    outputs
        .get(name)
        .ok_or_else(|| format!("the model produced no output named `{name}`"))
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
