//! LEDs and the talk button: rppal (Raspberry Pi), the GPIO character device (Jetson and
//! other boards), or simulated.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HwConfig {
    /// `auto`, `rppal`, `cdev`, `simulated` or `none`.
    pub backend: String,
    /// GPIO character device for the `cdev` backend.
    pub chip: String,
    /// BCM / line numbers; -1 leaves a function unwired.
    pub led_listening: i32,
    pub led_status: i32,
    pub button: i32,
    /// LEDs wired to light on a low output.
    pub active_low: bool,
    /// A press held this long toggles mute.
    pub long_press_ms: u32,
}

impl Default for HwConfig {
    fn default() -> Self {
        HwConfig {
            backend: "auto".into(),
            chip: "/dev/gpiochip0".into(),
            led_listening: -1,
            led_status: -1,
            button: -1,
            active_low: false,
            long_press_ms: 1500,
        }
    }
}
