//! SIGHUP (`systemctl reload hearken`): re-read the config file with the same checks as
//! start-up. An invalid file changes nothing and is logged with its line; a valid one is
//! compared key by key with the running config, the keys that can change live are applied
//! and the others are named as needing a restart.
//!
//! Applied live ([`LIVE_KEYS`]): the log level, and through the running pipeline's
//! [`Handle::reconfigure`] the LLM settings and prompt, wake thresholds, volumes, follow-up
//! and timeouts, and earcons. Models, devices, wake words and the rest need
//! `systemctl restart hearken`.

use std::path::PathBuf;

use log::LevelFilter;

use crate::config::{Config, ConfigError};
use crate::pipeline::{Handle, Live};

/// Keys (and tables: every key under them) [`Reloader::reload`] applies without a restart.
/// All but `service.log_level` need the running pipeline ([`Reloader::with_pipeline`]).
pub const LIVE_KEYS: &[&str] = &[
    "service.log_level",
    "llm",
    "wake.threshold",
    "wake.thresholds",
    "wake.refractory_ms",
    "tts.volume",
    "pipeline.follow_up_ms",
    "pipeline.no_speech_timeout_ms",
    "pipeline.max_utterance_ms",
    "pipeline.earcons",
];

/// Is `key` (dotted) one of [`LIVE_KEYS`] or under one?
pub fn is_live(key: &str) -> bool {
    LIVE_KEYS.iter().any(|live| {
        key.strip_prefix(live)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// The file is invalid (or unreadable): the running config stays.
    Invalid(ConfigError),
    /// The file is valid but what it asks for cannot be set up (an LLM API key file that
    /// cannot be read, an earcon file that does not load): the running config stays.
    Unusable(String),
    /// The daemon runs on built-in defaults: there is no file to re-read.
    NoFile,
    Unchanged,
    Changed {
        applied: Vec<String>,
        need_restart: Vec<String>,
    },
}

/// The running config and where it came from.
pub struct Reloader {
    path: Option<PathBuf>,
    current: Config,
    pipeline: Option<Handle>,
}

impl Reloader {
    pub fn new(path: Option<PathBuf>, current: Config) -> Self {
        Reloader {
            path,
            current,
            pipeline: None,
        }
    }

    /// The pipeline that takes the loop's live keys; without one they need a restart.
    pub fn with_pipeline(mut self, handle: Handle) -> Self {
        self.pipeline = Some(handle);
        self
    }

    /// Re-reads the file; applies what can change live.
    pub fn reload(&mut self) -> Reloaded {
        let Some(path) = &self.path else {
            return Reloaded::NoFile;
        };
        let new = match Config::load_file(path) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    log::warn!("{warning}");
                }
                loaded.config
            }
            Err(e) => return Reloaded::Invalid(e),
        };
        let changed = changed_keys(&self.current, &new);
        if changed.is_empty() {
            return Reloaded::Unchanged;
        }
        let (applied, need_restart): (Vec<String>, Vec<String>) = changed
            .into_iter()
            .partition(|k| k == "service.log_level" || (self.pipeline.is_some() && is_live(k)));
        if let Some(pipeline) = &self.pipeline {
            if applied.iter().any(|k| k != "service.log_level") {
                let new_llm = applied.iter().any(|k| k.starts_with("llm."));
                match Live::from_config(&new, new_llm) {
                    Ok(live) => pipeline.reconfigure(live),
                    Err(e) => return Reloaded::Unusable(e),
                }
            }
        }
        if applied.iter().any(|k| k == "service.log_level") {
            // Only when the level in force is the config's own (not -v or RUST_LOG).
            if log::max_level() == LevelFilter::from(self.current.service.log_level)
                && std::env::var_os("RUST_LOG").is_none()
            {
                log::set_max_level(new.service.log_level.into());
            }
        }
        self.current = new;
        Reloaded::Changed {
            applied,
            need_restart,
        }
    }

    /// [`Self::reload`], logged.
    pub fn reload_and_log(&mut self) {
        match self.reload() {
            Reloaded::Invalid(e) => {
                log::error!("reload: {e}; still running on the previous config")
            }
            Reloaded::Unusable(e) => {
                log::error!("reload: {e}; still running on the previous config")
            }
            Reloaded::NoFile => {
                log::warn!("reload: running on built-in defaults, no config file to re-read")
            }
            Reloaded::Unchanged => log::info!("reload: the config is unchanged"),
            Reloaded::Changed {
                applied,
                need_restart,
            } => {
                if !applied.is_empty() {
                    log::info!("reload: applied {}", applied.join(", "));
                }
                if !need_restart.is_empty() {
                    log::warn!(
                        "reload: changed, applied only after a restart (systemctl restart hearken): {}",
                        need_restart.join(", ")
                    );
                }
            }
        }
    }
}

/// The dotted keys whose values differ between two configs (tables compared leaf by leaf;
/// arrays as a whole).
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let old = serde_json::to_value(old).unwrap_or_default();
    let new = serde_json::to_value(new).unwrap_or_default();
    let mut keys = Vec::new();
    diff("", &old, &new, &mut keys);
    keys.sort();
    keys
}

fn diff(prefix: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                diff(
                    &key,
                    a.get(name).unwrap_or(&Value::Null),
                    b.get(name).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

/// Re-reads the config on every SIGHUP until the runtime ends. Registers the handler now
/// (call inside the runtime, before anything slow), so an early SIGHUP does not kill the
/// process with the signal's default action.
pub fn on_sighup(mut reloader: Reloader) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        while hup.recv().await.is_some() {
            log::info!("SIGHUP: reloading the config");
            reloader.reload_and_log();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("t.toml")).unwrap().config
    }

    #[test]
    fn live_keys_cover_their_tables_and_nothing_beside() {
        for key in [
            "llm.base_url",
            "llm.system_prompt",
            "wake.threshold",
            "wake.thresholds.alexa",
            "pipeline.earcons.volume",
            "tts.volume",
        ] {
            assert!(is_live(key), "{key}");
        }
        for key in [
            "wake.words",
            "wake.thresholdx",
            "tts.voice",
            "audio.capture_device",
            "asr.model",
        ] {
            assert!(!is_live(key), "{key}");
        }
    }

    #[test]
    fn with_a_pipeline_the_loop_keys_apply_and_the_rest_need_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearken.toml");
        std::fs::write(&path, "[wake]\nthreshold = 0.5\n").unwrap();
        let start = Config::load_file(&path).unwrap().config;
        let pipe = crate::pipeline::Pipeline::new();
        let mut r = Reloader::new(Some(path.clone()), start).with_pipeline(pipe.handle());
        std::fs::write(
            &path,
            "[wake]\nthreshold = 0.9\nwords = [\"hey_jarvis\"]\n[llm]\nsystem_prompt = \"Be brief.\"\n",
        )
        .unwrap();
        match r.reload() {
            Reloaded::Changed {
                applied,
                need_restart,
            } => {
                assert_eq!(applied, vec!["llm.system_prompt", "wake.threshold"]);
                assert_eq!(need_restart, vec!["wake.words"]);
            }
            other => panic!("{other:?}"),
        }
        // A key file that cannot be read: valid TOML, but nothing changes.
        std::fs::write(&path, "[llm]\napi_key_file = \"/nonexistent/key\"\n").unwrap();
        assert!(matches!(r.reload(), Reloaded::Unusable(_)));
    }

    #[test]
    fn changed_keys_are_dotted_leaves() {
        let a = parse("[wake]\nthreshold = 0.5\n");
        let b = parse("[wake]\nthreshold = 0.6\n[service]\nlog_level = \"debug\"\n");
        assert_eq!(
            changed_keys(&a, &b),
            vec![
                "service.log_level".to_string(),
                "wake.threshold".to_string()
            ]
        );
        assert!(changed_keys(&a, &a).is_empty());
    }

    #[test]
    fn a_broken_file_keeps_the_running_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearken.toml");
        std::fs::write(&path, "[wake]\nthreshold = 0.5\n").unwrap();
        let start = Config::load_file(&path).unwrap().config;
        let mut r = Reloader::new(Some(path.clone()), start);
        std::fs::write(&path, "[wake]\nthreshold = \"high\"\n").unwrap();
        match r.reload() {
            Reloaded::Invalid(e) => assert!(e.to_string().contains(":2:"), "{e}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, "[wake]\nthreshold = 0.7\n").unwrap();
        match r.reload() {
            Reloaded::Changed {
                applied,
                need_restart,
            } => {
                assert!(applied.is_empty());
                assert_eq!(need_restart, vec!["wake.threshold".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r.reload(), Reloaded::Unchanged));
    }
}
