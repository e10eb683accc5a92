//! hearken's configuration: one TOML file, a default for every key.
//!
//! Each engine owns its section type (`audio::AudioConfig`, `wake::WakeConfig`, ...); this
//! module stitches them together, reports unknown keys with a typo hint, turns parse and type
//! errors into `file:line:column` messages, and resolves relative paths against the file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    aec, api, asr, audio, hw, llm, models, pipeline, service, tts, turn, vad, wake, wyoming,
};

pub mod checked;
mod locate;

/// Where the daemon looks when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/hearken/config.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub models: models::ModelsConfig,
    pub audio: audio::AudioConfig,
    pub aec: aec::AecConfig,
    pub wake: wake::WakeConfig,
    pub vad: vad::VadConfig,
    pub turn: turn::TurnConfig,
    pub asr: asr::AsrConfig,
    pub llm: llm::LlmConfig,
    pub tts: tts::TtsConfig,
    pub pipeline: pipeline::PipelineConfig,
    pub service: service::ServiceConfig,
    pub hw: hw::HwConfig,
    pub api: api::ApiConfig,
    pub wyoming: wyoming::WyomingConfig,
}

/// A config and what loading it taught us.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file it came from; `None` means built-in defaults.
    pub path: Option<PathBuf>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {key}: {message}")]
    Value {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl Config {
    /// Loads `explicit` if given, else [`DEFAULT_PATH`] if it exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
        match explicit {
            Some(path) => Self::load_file(path),
            None if Path::new(DEFAULT_PATH).exists() => Self::load_file(Path::new(DEFAULT_PATH)),
            None => Ok(Loaded {
                config: Config::default(),
                path: None,
                warnings: vec![format!(
                    "no config at {DEFAULT_PATH}; running on built-in defaults"
                )],
            }),
        }
    }

    pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut loaded = Self::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        loaded.config.resolve_paths(base);
        loaded.path = Some(path.to_owned());
        Ok(loaded)
    }

    /// Parses TOML text; `path` only labels messages. Every value is checked here (while it
    /// is deserialized, or across keys after), so whatever parses is what `run` can use.
    pub fn parse(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
        let located = |err: toml::de::Error| {
            let offset = err.span().map(|span| span.start);
            let message = err.message().trim();
            let message = match offset.and_then(|at| locate::key_at(text, at)) {
                Some(key) => format!("{key}: {message}"),
                None => message.to_string(),
            };
            invalid(text, path, offset.unwrap_or(0), message)
        };
        let deserializer = toml::de::Deserializer::parse(text).map_err(located)?;
        let mut unknown = Vec::new();
        let config: Config = serde_ignored::deserialize(deserializer, |key| {
            unknown.push(key.to_string());
        })
        .map_err(located)?;
        if let Err((key, message)) = config.validate() {
            return Err(match locate::value_span(text, key) {
                Some(span) => invalid(text, path, span.start, format!("{key}: {message}")),
                None => ConfigError::Value {
                    path: path.to_owned(),
                    key: key.to_string(),
                    message,
                },
            });
        }
        let warnings = unknown
            .iter()
            .map(|key| unknown_key_warning(path, key))
            .collect();
        Ok(Loaded {
            config,
            path: Some(path.to_owned()),
            warnings,
        })
    }

    /// The checks that span several keys; single keys are checked as they are read.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        self.llm.validate()?;
        self.audio.validate()?;
        self.wake.validate()?;
        self.api.validate()?;
        self.wyoming.validate()?;
        Ok(())
    }

    /// Every model the configured engines will load, in start-up order.
    pub fn model_refs(&self) -> Vec<models::ModelRef> {
        let mut refs = self.wake.model_refs();
        refs.push(self.vad.model_ref());
        refs.push(self.asr.model_ref());
        refs.push(self.tts.model_ref());
        if self.turn.mode == turn::TurnMode::Smart {
            refs.push(self.turn.model_ref());
        }
        refs
    }

    fn resolve_paths(&mut self, base: &Path) {
        resolve(&mut self.models.dir, base);
        resolve(&mut self.llm.api_key_file, base);
        resolve(&mut self.api.token_file, base);
        resolve(&mut self.audio.debug_recordings_dir, base);
        for cue in [
            &mut self.pipeline.earcons.wake,
            &mut self.pipeline.earcons.done,
            &mut self.pipeline.earcons.error,
        ] {
            resolve(cue, base);
        }
    }
}

/// Makes a relative, non-empty path relative to the config file's directory.
fn resolve(path: &mut PathBuf, base: &Path) {
    if !path.as_os_str().is_empty() && path.is_relative() {
        *path = base.join(&*path);
    }
}

fn invalid(text: &str, path: &Path, offset: usize, message: String) -> ConfigError {
    let (line, column) = line_col(text, offset);
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn unknown_key_warning(path: &Path, key: &str) -> String {
    let (parent, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let known = known_keys(parent);
    let hint = known
        .iter()
        .map(|k| (strsim::jaro_winkler(k, leaf), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| {
            let full = if parent.is_empty() {
                k.clone()
            } else {
                format!("{parent}.{k}")
            };
            format!("; did you mean `{full}`?")
        })
        .unwrap_or_default();
    format!("{}: unknown key `{key}` is ignored{hint}", path.display())
}

/// The keys a section accepts, read off the serialized defaults.
fn known_keys(section: &str) -> Vec<String> {
    let mut value = toml::Value::try_from(Config::default()).expect("defaults serialize");
    for part in section.split('.').filter(|p| !p.is_empty()) {
        match value.get(part) {
            Some(v) => value = v.clone(),
            None => return Vec::new(),
        }
    }
    value
        .as_table()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// A secret read at run time; never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret in the environment variable `env`, else the first line of `file`; empty
    /// when neither is set.
    pub fn from_env_or_file(env: &str, file: &Path) -> std::io::Result<Secret> {
        if let Ok(value) = std::env::var(env) {
            if !value.trim().is_empty() {
                return Ok(Secret::new(value.trim()));
            }
        }
        if file.as_os_str().is_empty() {
            return Ok(Secret::default());
        }
        Ok(Secret::new(std::fs::read_to_string(file)?.trim()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Loaded, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let loaded = parse("").unwrap();
        assert!(loaded.warnings.is_empty());
        let defaults = Config::default();
        assert_eq!(
            toml::to_string(&loaded.config).unwrap(),
            toml::to_string(&defaults).unwrap()
        );
        assert_eq!(defaults.audio.sample_rate, 16_000);
        assert_eq!(defaults.wake.words, vec!["alexa".to_string()]);
    }

    #[test]
    fn unknown_key_warns_with_hint() {
        let loaded = parse("[audio]\ncapture_devce = \"hw:1\"\n").unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        let w = &loaded.warnings[0];
        assert!(w.contains("`audio.capture_devce`"), "{w}");
        assert!(w.contains("did you mean `audio.capture_device`"), "{w}");
        assert_eq!(loaded.config.audio.capture_device, "default");
    }

    #[test]
    fn unknown_section_warns() {
        let loaded = parse("[wakee]\nwords = []\n").unwrap();
        assert!(
            loaded.warnings[0].contains("did you mean `wake`"),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn malformed_toml_names_line_and_column() {
        let err = parse("[audio]\nsample_rate = 16000\nperiods = = 4\n").unwrap_err();
        match err {
            ConfigError::Invalid { line, column, .. } => {
                assert_eq!((line, column), (3, 11));
            }
            other => panic!("unexpected {other}"),
        }
        assert!(parse("[audio\n")
            .unwrap_err()
            .to_string()
            .starts_with("test.toml:1:"));
    }

    #[test]
    fn wrong_type_names_the_key_position() {
        let err = parse("[audio]\nsample_rate = \"fast\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("test.toml:2:15:"), "{text}");
        assert!(text.contains("invalid type"), "{text}");
    }

    #[test]
    fn api_key_in_clear_text_is_refused() {
        let err = parse("[llm]\napi_key = \"sk-123\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("llm.api_key"), "{text}");
        assert!(!text.contains("sk-123"), "{text}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[models]\ndir = \"m\"\n").unwrap();
        let loaded = Config::load_file(&file).unwrap();
        assert_eq!(loaded.config.models.dir, dir.path().join("m"));
    }

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("sk-abc");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }
}

#[cfg(test)]
mod documented {
    use super::*;

    const SHIPPED: &str = include_str!("../../config/hearken.toml");

    fn leaves(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) if prefix.is_empty() || !t.is_empty() => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&key, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    /// config/hearken.toml documents every key, with exactly the built-in default.
    #[test]
    fn shipped_config_matches_defaults() {
        let loaded = Config::parse(SHIPPED, Path::new("config/hearken.toml")).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let shipped: toml::Value = toml::from_str(SHIPPED).unwrap();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        let (mut want, mut have) = (Vec::new(), Vec::new());
        leaves("", &defaults, &mut want);
        leaves("", &shipped, &mut have);
        for key in &want {
            assert!(
                have.contains(key),
                "config/hearken.toml does not document `{key}`"
            );
        }
        assert_eq!(
            toml::to_string(&loaded.config).unwrap(),
            toml::to_string(&Config::default()).unwrap(),
            "config/hearken.toml values differ from the built-in defaults"
        );
    }
}
