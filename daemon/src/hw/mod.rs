//! The board's status LEDs and talk button, behind two small traits.
//!
//! ```text
//! pipeline ── Handle::state() (watch) ──▶ animation thread ──▶ dyn Leds
//! dyn Button ── raw edges ──▶ button thread: debounce, gesture, action ──▶ Handle
//! ```
//!
//! The pipeline only publishes its state; the animation thread samples it at a fixed frame
//! rate, so nothing here can block or slow the audio path. The button drives the loop
//! through the same [`Handle`] the API uses: `push_to_talk`, `stop_answer`, `mute`.
//! Backends: [`rpi`] (Raspberry Pi GPIO through rppal), [`apa102`] (RGB LEDs over SPI),
//! [`cdev`] (the GPIO character device, any Linux board) and [`simulated`] (recorded LEDs,
//! scripted presses: tests and `simulate`).

pub mod apa102;
pub mod button;
pub mod cdev;
pub mod leds;
pub mod rpi;
pub mod simulated;

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use button::{ButtonConfig, ButtonThread, Classifier, DoublePress, Gesture};
pub use leds::{Animator, LedConfig, Look, Pattern};

use crate::config::checked;
use crate::pipeline::Handle;

/// One LED's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// A plain (single-colour) LED's level for a colour: its brightest channel, 0..1.
pub fn level(c: Rgb) -> f32 {
    f32::from(c.0.max(c.1).max(c.2)) / 255.0
}

/// One animation frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub at: Instant,
    /// The state and pattern it shows (for recording backends; hardware uses `colors`).
    pub look: Look,
    /// One colour per LED.
    pub colors: Vec<Rgb>,
}

/// Status LEDs.
pub trait Leds: Send {
    /// How many LEDs one frame covers.
    fn count(&self) -> usize;
    /// Shows a frame.
    fn show(&mut self, frame: &Frame) -> Result<(), HwError>;
    /// All LEDs off (shutdown).
    fn off(&mut self) -> Result<(), HwError>;
}

/// A raw level change of the button's line, bounces included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// In the button's clock ([`Button::now`]).
    pub at: Duration,
    pub pressed: bool,
}

/// The talk button's line.
pub trait Button: Send {
    /// The clock edges are stamped in.
    fn now(&self) -> Duration;
    /// Waits up to `timeout` for the next raw edge.
    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError>;
}

#[derive(Debug, thiserror::Error)]
pub enum HwError {
    #[error("{device}: {message}")]
    Device { device: String, message: String },
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
}

/// `[hw] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// rppal on a Raspberry Pi, cdev where a GPIO chip exists, else none (logged once).
    Auto,
    /// Raspberry Pi GPIO (rppal): `[hw.gpio]` button and LEDs as BCM pins.
    Rppal,
    /// APA102 RGB LEDs on SPI (`[hw.apa102]`), the button on a `[hw.gpio]` line (cdev).
    Apa102,
    /// The GPIO character device (gpiocdev): `[hw.gpio]` lines by offset or name.
    Cdev,
    /// No hardware: every LED pattern change is logged, no button.
    Simulated,
    /// No LEDs, no button.
    None,
}

/// How the button's line is biased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    Up,
    Down,
    None,
}

/// `[hw.gpio]`: the lines of the rppal and cdev backends (and apa102's button).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpioConfig {
    /// The character device (cdev) for lines given by offset.
    pub chip: PathBuf,
    /// The button's line: a number (BCM pin for rppal, offset on `chip` for cdev) or a
    /// line name (cdev: "PIN_11", "GPIO17"); "" = no button.
    pub button: String,
    pub button_pull: Pull,
    /// Pressed pulls the line low (a button to ground with a pull-up).
    pub button_active_low: bool,
    /// Plain LEDs, one line each.
    pub leds: Vec<String>,
}

impl Default for GpioConfig {
    fn default() -> Self {
        GpioConfig {
            chip: PathBuf::from("/dev/gpiochip0"),
            button: String::new(),
            button_pull: Pull::Up,
            button_active_low: true,
            leds: Vec::new(),
        }
    }
}

/// `[hw.apa102]`: the RGB LEDs of ReSpeaker HATs and similar boards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Apa102Config {
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 1024>")]
    pub count: u32,
    /// `/dev/spidev{bus}.{cs}`.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 6>")]
    pub bus: u32,
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 2>")]
    pub cs: u32,
    /// The chip's 5-bit global brightness (patterns scale within it).
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 31>")]
    pub brightness: u32,
}

impl Default for Apa102Config {
    fn default() -> Self {
        Apa102Config {
            count: 3,
            bus: 0,
            cs: 0,
            brightness: 10,
        }
    }
}

/// `[hw]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HwConfig {
    pub backend: Backend,
    pub button: ButtonConfig,
    pub leds: LedConfig,
    pub gpio: GpioConfig,
    pub apa102: Apa102Config,
}

impl Default for HwConfig {
    fn default() -> Self {
        HwConfig {
            backend: Backend::Auto,
            button: ButtonConfig::default(),
            leds: LedConfig::default(),
            gpio: GpioConfig::default(),
            apa102: Apa102Config::default(),
        }
    }
}

/// The LEDs and the button a backend opened.
pub struct Parts {
    pub leds: Option<Box<dyn Leds>>,
    pub button: Option<Box<dyn Button>>,
}

/// Opens the configured backend. On a machine without the hardware a named backend fails
/// with the device and the fix; `auto` falls back to none with one log line.
pub fn open(config: &HwConfig) -> Result<Parts, HwError> {
    let nothing = || Parts {
        leds: None,
        button: None,
    };
    match config.backend {
        Backend::None => Ok(nothing()),
        Backend::Simulated => Ok(Parts {
            leds: Some(Box::new(simulated::LoggedLeds::default())),
            button: None,
        }),
        Backend::Rppal => open_rppal(&config.gpio),
        Backend::Cdev => open_cdev(&config.gpio),
        Backend::Apa102 => {
            let a = &config.apa102;
            let leds = apa102::Apa102::open(
                a.bus as u8,
                a.cs as u8,
                a.count as usize,
                a.brightness as u8,
            )?;
            let button = if config.gpio.button.is_empty() {
                None
            } else {
                Some(Box::new(cdev::CdevButton::open(&config.gpio)?) as Box<dyn Button>)
            };
            Ok(Parts {
                leds: Some(Box::new(leds)),
                button,
            })
        }
        Backend::Auto => {
            let picked = match auto_backend(Path::new("/proc/device-tree/model"), &config.gpio) {
                Some(Backend::Rppal) => open_rppal(&config.gpio),
                Some(_) => open_cdev(&config.gpio),
                None => {
                    log::info!(
                        "hw: no GPIO here (not a Raspberry Pi, no {}); running without LEDs and button",
                        config.gpio.chip.display()
                    );
                    return Ok(nothing());
                }
            };
            picked.or_else(|e| {
                log::warn!("hw: {e}; running without LEDs and button");
                Ok(nothing())
            })
        }
    }
}

/// `auto`'s choice: rppal on a Raspberry Pi (by its device-tree model), cdev where the
/// configured GPIO chip exists, else nothing.
pub fn auto_backend(model: &Path, gpio: &GpioConfig) -> Option<Backend> {
    let model = std::fs::read_to_string(model).unwrap_or_default();
    if model.contains("Raspberry Pi") {
        Some(Backend::Rppal)
    } else if gpio.chip.exists() {
        Some(Backend::Cdev)
    } else {
        None
    }
}

fn open_rppal(gpio: &GpioConfig) -> Result<Parts, HwError> {
    // The GPIO itself first, so a machine without it says so whatever lines are set.
    rpi::check()?;
    let leds = (!gpio.leds.is_empty())
        .then(|| rpi::RppalLeds::open(gpio).map(|l| Box::new(l) as Box<dyn Leds>))
        .transpose()?;
    let button = (!gpio.button.is_empty())
        .then(|| rpi::RppalButton::open(gpio).map(|b| Box::new(b) as Box<dyn Button>))
        .transpose()?;
    Ok(Parts { leds, button })
}

fn open_cdev(gpio: &GpioConfig) -> Result<Parts, HwError> {
    if !gpio.chip.exists() {
        return Err(cdev::no_chip(&gpio.chip));
    }
    let leds = (!gpio.leds.is_empty())
        .then(|| cdev::CdevLeds::open(gpio).map(|l| Box::new(l) as Box<dyn Leds>))
        .transpose()?;
    let button = (!gpio.button.is_empty())
        .then(|| cdev::CdevButton::open(gpio).map(|b| Box::new(b) as Box<dyn Button>))
        .transpose()?;
    Ok(Parts { leds, button })
}

/// The LED and button threads of a running daemon. Dropping it (or [`Hw::stop`]) stops
/// both and turns the LEDs off.
pub struct Hw {
    animator: Option<Animator>,
    button: Option<ButtonThread>,
}

impl Hw {
    /// Starts the animation thread on `parts.leds` and the button thread on
    /// `parts.button`, both following / driving `handle`. Either one dying (a panic, the
    /// button's line failing) stops the loop `handle` drives, naming the stage: a
    /// restarted daemon opens the hardware afresh, where a restarted thread would inherit
    /// a backend left in whatever state the panic found it.
    pub fn start(parts: Parts, config: &HwConfig, handle: &Handle) -> Result<Hw, HwError> {
        let animator = parts
            .leds
            .map(|leds| {
                Animator::spawn(
                    leds,
                    config.leds.clone(),
                    handle.state(),
                    handle.on_failure(),
                )
            })
            .transpose()
            .map_err(|source| HwError::Thread {
                what: "LED",
                source,
            })?;
        let button = parts
            .button
            .map(|b| ButtonThread::spawn(b, config.button.clone(), handle.clone()))
            .transpose()
            .map_err(|source| HwError::Thread {
                what: "button",
                source,
            })?;
        Ok(Hw { animator, button })
    }

    /// Stops the button, then the animation (the LEDs end off).
    pub fn stop(mut self) {
        drop(self.button.take());
        if let Some(a) = self.animator.take() {
            a.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_and_numbers_are_checked_as_read() {
        let err = |t: &str| {
            toml::from_str::<HwConfig>(t)
                .unwrap_err()
                .message()
                .to_string()
        };
        assert_eq!(
            err("backend = \"gpio\""),
            "unknown variant `gpio`, expected one of `auto`, `rppal`, `apa102`, `cdev`, `simulated`, `none`"
        );
        assert_eq!(err("[apa102]\nbrightness = 32"), "32 is out of range 0..31");
        assert_eq!(err("[apa102]\ncount = 0"), "0 is out of range 1..1024");
        assert_eq!(
            err("[button]\ndebounce_ms = 501"),
            "501 is out of range 0..500"
        );
        assert!(err("[gpio]\nbutton_pull = \"sideways\"").contains("`up`, `down`, `none`"));
        let c: HwConfig =
            toml::from_str("backend = \"cdev\"\n[gpio]\nbutton = \"PIN_11\"\nleds = [\"12\"]")
                .unwrap();
        assert_eq!(c.backend, Backend::Cdev);
        assert_eq!(c.gpio.leds, ["12"]);
    }

    #[test]
    fn without_gpio_named_backends_fail_with_the_device_and_auto_runs_without() {
        let dir = tempfile::tempdir().unwrap();
        let gpio = GpioConfig {
            chip: dir.path().join("gpiochip9"),
            button: "17".into(),
            ..GpioConfig::default()
        };
        let config = |backend| HwConfig {
            backend,
            gpio: gpio.clone(),
            ..HwConfig::default()
        };
        let message = |backend| match open(&config(backend)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{backend:?} opened without GPIO"),
        };
        let m = message(Backend::Cdev);
        assert!(m.starts_with(&gpio.chip.display().to_string()), "{m}");
        assert!(m.contains("hw.backend = \"none\""), "{m}");
        // A Raspberry Pi would open; anywhere else rppal names the GPIO it lacks.
        let model = std::fs::read_to_string("/proc/device-tree/model").unwrap_or_default();
        if !model.contains("Raspberry Pi") {
            let m = message(Backend::Rppal);
            assert!(m.contains("/dev/gpiomem") && m.contains("gpio"), "{m}");
            assert!(m.contains("hw.backend"), "{m}");
        }
        // auto: neither a Pi (a model file that says otherwise) nor the chip: none.
        let not_a_pi = dir.path().join("model");
        std::fs::write(&not_a_pi, "NVIDIA Jetson Orin Nano").unwrap();
        assert_eq!(auto_backend(&not_a_pi, &gpio), None);
        let pi = dir.path().join("pi-model");
        std::fs::write(&pi, "Raspberry Pi 5 Model B Rev 1.0\0").unwrap();
        assert_eq!(auto_backend(&pi, &gpio), Some(Backend::Rppal));
        std::fs::write(&gpio.chip, "").unwrap();
        assert_eq!(auto_backend(&not_a_pi, &gpio), Some(Backend::Cdev));
        std::fs::remove_file(&gpio.chip).unwrap();
        let parts = open(&config(Backend::Auto)).unwrap();
        assert!(parts.leds.is_none() && parts.button.is_none());
    }
}
