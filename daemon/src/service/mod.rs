//! Running as a service: logging (journald or stderr), systemd notify/watchdog, signals.

pub mod logging;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`; `-v` and RUST_LOG override it.
    pub log_level: String,
    /// `auto` (journald when its socket exists and stderr is not a terminal), `journald`
    /// or `stderr`.
    pub log_target: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            log_level: "info".into(),
            log_target: "auto".into(),
        }
    }
}
