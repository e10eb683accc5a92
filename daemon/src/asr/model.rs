//! Which sherpa-onnx model family a manifest bundle holds, from its kind and file names.

use std::path::{Path, PathBuf};

use crate::models::{ModelRef, ModelStore};

use super::AsrError;

/// The files of one recognizer model, checked to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFiles {
    // Streaming (OnlineRecognizer).
    Transducer {
        encoder: PathBuf,
        decoder: PathBuf,
        joiner: PathBuf,
        tokens: PathBuf,
    },
    Paraformer {
        encoder: PathBuf,
        decoder: PathBuf,
        tokens: PathBuf,
    },
    Zipformer2Ctc {
        model: PathBuf,
        tokens: PathBuf,
    },
    NemoCtc {
        model: PathBuf,
        tokens: PathBuf,
    },
    // Offline (OfflineRecognizer), decoded per VAD segment.
    Whisper {
        encoder: PathBuf,
        decoder: PathBuf,
        tokens: PathBuf,
    },
    Moonshine {
        preprocessor: PathBuf,
        encoder: PathBuf,
        uncached_decoder: PathBuf,
        cached_decoder: PathBuf,
        tokens: PathBuf,
    },
    SenseVoice {
        model: PathBuf,
        tokens: PathBuf,
    },
}

impl ModelFiles {
    /// The .onnx files sherpa-onnx loads, for messages.
    pub fn onnx_files(&self) -> Vec<&Path> {
        let files: Vec<&PathBuf> = match self {
            ModelFiles::Transducer {
                encoder,
                decoder,
                joiner,
                ..
            } => vec![encoder, decoder, joiner],
            ModelFiles::Paraformer {
                encoder, decoder, ..
            }
            | ModelFiles::Whisper {
                encoder, decoder, ..
            } => vec![encoder, decoder],
            ModelFiles::Zipformer2Ctc { model, .. }
            | ModelFiles::NemoCtc { model, .. }
            | ModelFiles::SenseVoice { model, .. } => vec![model],
            ModelFiles::Moonshine {
                preprocessor,
                encoder,
                uncached_decoder,
                cached_decoder,
                ..
            } => vec![preprocessor, encoder, uncached_decoder, cached_decoder],
        };
        files.into_iter().map(PathBuf::as_path).collect()
    }

    /// Why sherpa-onnx may have refused these files, naming them.
    pub(crate) fn refused(&self, provider: impl std::fmt::Display) -> String {
        let files: Vec<String> = self
            .onnx_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        format!(
            "sherpa-onnx refused {} (provider {provider}; its log above says which file and why; `hearken check` verifies them)",
            files.join(", ")
        )
    }

    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            ModelFiles::Transducer { .. }
                | ModelFiles::Paraformer { .. }
                | ModelFiles::Zipformer2Ctc { .. }
                | ModelFiles::NemoCtc { .. }
        )
    }

    /// Resolves the configured model through the store (which names missing files and the
    /// command that installs them).
    pub fn resolve(model: &ModelRef, store: &ModelStore) -> Result<ModelFiles, AsrError> {
        let name = match model {
            ModelRef::Bundle(name) => name,
            ModelRef::Path(path) => {
                return Err(AsrError::Config(format!(
                    "asr.model = \"{}\": ASR models are bundles from models/manifest.toml \
                     (install one with: {})",
                    path.display(),
                    store.fetch_hint("asr-whisper-tiny.en")
                )))
            }
        };
        let bundle = store.bundle(name)?;
        let streaming = match bundle.kind.as_str() {
            "asr-online" => true,
            "asr-offline" => false,
            other => {
                return Err(AsrError::Config(format!(
                    "asr.model = \"{name}\" is a {other} bundle, not asr-online or asr-offline"
                )))
            }
        };
        let mut paths = Vec::new();
        for spec in bundle.files() {
            paths.push(store.file(name, &spec.name)?);
        }
        classify(name, streaming, &paths)
    }
}

fn classify(name: &str, streaming: bool, paths: &[PathBuf]) -> Result<ModelFiles, AsrError> {
    let file = |key: &str| -> Option<PathBuf> {
        paths
            .iter()
            .find(|p| {
                let n = file_name(p);
                n.ends_with(".onnx") && n.contains(key)
            })
            .cloned()
    };
    let unknown = || {
        AsrError::Config(format!(
            "bundle {name}: cannot tell the sherpa-onnx model family from its files ({})",
            paths
                .iter()
                .map(|p| file_name(p))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let tokens = paths
        .iter()
        .find(|p| file_name(p).ends_with("tokens.txt"))
        .cloned()
        .ok_or_else(unknown)?;
    let lower = name.to_ascii_lowercase();
    let single = || {
        paths
            .iter()
            .find(|p| file_name(p).ends_with(".onnx"))
            .cloned()
    };
    let files = if streaming {
        match (file("encoder"), file("decoder"), file("joiner")) {
            (Some(encoder), Some(decoder), Some(joiner)) => ModelFiles::Transducer {
                encoder,
                decoder,
                joiner,
                tokens,
            },
            (Some(encoder), Some(decoder), None) => ModelFiles::Paraformer {
                encoder,
                decoder,
                tokens,
            },
            _ if lower.contains("nemo") => ModelFiles::NemoCtc {
                model: single().ok_or_else(unknown)?,
                tokens,
            },
            _ => ModelFiles::Zipformer2Ctc {
                model: single().ok_or_else(unknown)?,
                tokens,
            },
        }
    } else if let Some(preprocessor) = file("preprocess") {
        ModelFiles::Moonshine {
            preprocessor,
            encoder: file("encode").ok_or_else(unknown)?,
            uncached_decoder: file("uncached").ok_or_else(unknown)?,
            cached_decoder: paths
                .iter()
                .find(|p| {
                    let n = file_name(p);
                    n.contains("cached") && !n.contains("uncached")
                })
                .cloned()
                .ok_or_else(unknown)?,
            tokens,
        }
    } else if let (Some(encoder), Some(decoder)) = (file("encoder"), file("decoder")) {
        ModelFiles::Whisper {
            encoder,
            decoder,
            tokens,
        }
    } else if lower.contains("sense") {
        ModelFiles::SenseVoice {
            model: single().ok_or_else(unknown)?,
            tokens,
        }
    } else {
        return Err(unknown());
    };
    Ok(files)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| PathBuf::from(format!("/m/{n}")))
            .collect()
    }

    #[test]
    fn families_from_file_names() {
        let t = classify(
            "x",
            true,
            &p(&[
                "encoder-a.int8.onnx",
                "decoder-a.onnx",
                "joiner-a.int8.onnx",
                "tokens.txt",
            ]),
        )
        .unwrap();
        assert!(matches!(t, ModelFiles::Transducer { .. }));
        let w = classify(
            "asr-whisper-tiny.en",
            false,
            &p(&[
                "tiny.en-encoder.int8.onnx",
                "tiny.en-decoder.int8.onnx",
                "tiny.en-tokens.txt",
            ]),
        )
        .unwrap();
        assert!(matches!(w, ModelFiles::Whisper { .. }));
        assert!(!w.is_streaming());
        let m = classify(
            "asr-moonshine-tiny",
            false,
            &p(&[
                "preprocess.onnx",
                "encode.int8.onnx",
                "uncached_decode.int8.onnx",
                "cached_decode.int8.onnx",
                "tokens.txt",
            ]),
        )
        .unwrap();
        match m {
            ModelFiles::Moonshine { cached_decoder, .. } => {
                assert!(cached_decoder.ends_with("cached_decode.int8.onnx"))
            }
            other => panic!("{other:?}"),
        }
        let s = classify(
            "asr-sense-voice",
            false,
            &p(&["model.int8.onnx", "tokens.txt"]),
        )
        .unwrap();
        assert!(matches!(s, ModelFiles::SenseVoice { .. }));
        let c = classify("asr-streaming-ctc", true, &p(&["ctc.onnx", "tokens.txt"])).unwrap();
        assert!(matches!(c, ModelFiles::Zipformer2Ctc { .. }));
    }

    #[test]
    fn no_tokens_is_an_error_naming_the_bundle() {
        let err = classify("b", true, &p(&["encoder.onnx"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bundle b"), "{err}");
    }
}
