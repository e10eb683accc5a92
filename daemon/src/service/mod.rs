//! Running as a service: logging (journald or stderr), systemd notify/watchdog, signals.

pub mod events;
pub mod logging;
pub mod notify;
pub mod reload;

use serde::{Deserialize, Serialize};

pub use logging::{LogLevel, LogTarget};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    /// The least severe records logged; `-v` and RUST_LOG override it.
    pub log_level: LogLevel,
    /// Where log records go.
    pub log_target: LogTarget,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            log_level: LogLevel::Info,
            log_target: LogTarget::Auto,
        }
    }
}
