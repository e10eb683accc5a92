//! One logger for the whole process: journald under systemd, stderr with timestamps
//! elsewhere. Level: RUST_LOG beats `-v` beats the config.

use std::io::IsTerminal;
use std::path::Path;

use log::LevelFilter;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Journald,
    Stderr,
}

pub fn choose_target(configured: &str) -> Target {
    match configured {
        "journald" => Target::Journald,
        "stderr" => Target::Stderr,
        _ if Path::new(JOURNAL_SOCKET).exists() && !std::io::stderr().is_terminal() => {
            Target::Journald
        }
        _ => Target::Stderr,
    }
}

/// The effective level: `verbosity` counts `-v` flags.
pub fn choose_level(configured: &str, verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => configured.parse().unwrap_or(LevelFilter::Info),
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger; call once, early. Falls back to stderr if journald refuses.
pub fn init(configured_target: &str, configured_level: &str, verbosity: u8) -> Target {
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
        assert_eq!(choose_level("warn", 0), LevelFilter::Warn);
        assert_eq!(choose_level("warn", 1), LevelFilter::Debug);
        assert_eq!(choose_level("warn", 2), LevelFilter::Trace);
        assert_eq!(choose_level("nonsense", 0), LevelFilter::Info);
    }

    #[test]
    fn explicit_target_wins() {
        assert_eq!(choose_target("stderr"), Target::Stderr);
        assert_eq!(choose_target("journald"), Target::Journald);
    }
}
