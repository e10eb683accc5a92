//! The native libraries: sherpa-onnx's C API (linked) and the ONNX Runtime it ships, which
//! `ort` is pointed at so that exactly one runtime is loaded per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, Clone, thiserror::Error)]
pub enum NativeError {
    #[error("libonnxruntime.so is not loaded and not found in {searched}; install the native libraries with: {fetch}")]
    RuntimeNotFound { searched: String, fetch: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
}

/// The process-wide ONNX Runtime environment used by every `ort` session.
pub struct OnnxRuntime {
    pub path: PathBuf,
    env: ort::environment::Environment,
}

impl OnnxRuntime {
    /// The environment every `ort` session is built in (`Session::builder(rt.env())`).
    pub fn env(&self) -> &ort::environment::Environment {
        &self.env
    }
}

/// Initialises `ort` once, on the ONNX Runtime that sherpa-onnx already mapped.
pub fn onnxruntime() -> Result<&'static OnnxRuntime, NativeError> {
    static RUNTIME: OnceLock<Result<OnnxRuntime, NativeError>> = OnceLock::new();
    RUNTIME
        .get_or_init(init_runtime)
        .as_ref()
        .map_err(Clone::clone)
}

fn init_runtime() -> Result<OnnxRuntime, NativeError> {
    // Touch sherpa so the dynamic linker keeps (and maps) libsherpa-onnx-c-api.so and the
    // libonnxruntime.so beside it, even in binaries that never build a recognizer.
    let _ = sherpa_version();
    let path = mapped_runtime()
        .or_else(|| candidate_dirs().into_iter().map(|d| d.join(RUNTIME_FILE)).find(|p| p.is_file()))
        .ok_or_else(|| NativeError::RuntimeNotFound {
            searched: candidate_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            fetch: "models/fetch sherpa-onnx-runtime (then rebuild with SHERPA_ONNX_LIB_DIR pointing at it)".into(),
        })?;
    let load_err = |message: String| NativeError::RuntimeLoad {
        path: path.clone(),
        message,
    };
    let env = ort::init_from(&path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("hearken")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    Ok(OnnxRuntime { path, env })
}

const RUNTIME_FILE: &str = "libonnxruntime.so";

/// The libonnxruntime.so this process already has mapped, if any.
fn mapped_runtime() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(RUNTIME_FILE))
        })
        .map(PathBuf::from)
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let build_dir = env!("HEARKEN_BUILD_LIB_DIR");
    if !build_dir.is_empty() {
        dirs.push(PathBuf::from(build_dir));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        dirs.push(exe_dir.join("../lib/hearken"));
        dirs.push(exe_dir);
    }
    dirs
}

/// sherpa-onnx's version string, read from the linked library.
pub fn sherpa_version() -> &'static str {
    sherpa_onnx::version()
}

/// The ONNX Runtime version sherpa-onnx was built against.
pub fn sherpa_onnxruntime_version() -> &'static str {
    sherpa_onnx::onnxruntime_version()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_serves_sherpa_and_ort() {
        let rt = onnxruntime().expect("ONNX Runtime loads");
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let mut runtimes: Vec<&str> = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .filter(|p| p.contains(RUNTIME_FILE))
            .collect();
        runtimes.sort();
        runtimes.dedup();
        assert_eq!(runtimes, vec![rt.path.to_str().unwrap()]);
        assert!(sherpa_version().starts_with("2."), "{}", sherpa_version());
    }
}
