//! One logger for the whole process: journald under systemd, stderr with timestamps
//! elsewhere. Level: RUST_LOG beats `-v` beats the config.

use std::io::IsTerminal;
use std::path::Path;

use log::LevelFilter;
use serde::{Deserialize, Serialize};

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// `service.log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => LevelFilter::Error,
            LogLevel::Warn => LevelFilter::Warn,
            LogLevel::Info => LevelFilter::Info,
            LogLevel::Debug => LevelFilter::Debug,
            LogLevel::Trace => LevelFilter::Trace,
        }
    }
}

/// `service.log_target`: where the config asks log records to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    /// journald when its socket exists and stderr is not a terminal, else stderr.
    Auto,
    Journald,
    Stderr,
}

/// Where log records go, once `auto` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Journald,
    Stderr,
}

pub fn choose_target(configured: LogTarget) -> Target {
    match configured {
        LogTarget::Journald => Target::Journald,
        LogTarget::Stderr => Target::Stderr,
        LogTarget::Auto
            if Path::new(JOURNAL_SOCKET).exists() && !std::io::stderr().is_terminal() =>
        {
            Target::Journald
        }
        LogTarget::Auto => Target::Stderr,
    }
}

/// The effective level: `verbosity` counts `-v` flags.
pub fn choose_level(configured: LogLevel, verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => configured.into(),
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger; call once, early. Falls back to stderr if journald refuses.
pub fn init(configured_target: LogTarget, configured_level: LogLevel, verbosity: u8) -> Target {
    let level = choose_level(configured_level, verbosity);
    if choose_target(configured_target) == Target::Journald {
        if let Ok(logger) = systemd_journal_logger::JournalLog::new() {
            let logger = logger.with_syslog_identifier("hearken".into());
            if logger.install().is_ok() {
                log::set_max_level(rust_log_level().unwrap_or(level));
                return Target::Journald;
            }
        }
    }
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .try_init()
        .ok();
    Target::Stderr
}

fn rust_log_level() -> Option<LevelFilter> {
    std::env::var("RUST_LOG").ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_beats_config() {
        assert_eq!(choose_level(LogLevel::Warn, 0), LevelFilter::Warn);
        assert_eq!(choose_level(LogLevel::Warn, 1), LevelFilter::Debug);
        assert_eq!(choose_level(LogLevel::Warn, 2), LevelFilter::Trace);
    }

    #[test]
    fn explicit_target_wins() {
        assert_eq!(choose_target(LogTarget::Stderr), Target::Stderr);
        assert_eq!(choose_target(LogTarget::Journald), Target::Journald);
    }
}
