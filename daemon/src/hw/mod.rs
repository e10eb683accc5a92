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
//! Backends: [`simulated`] (recorded LEDs, scripted presses: tests and `simulate`).

pub mod button;
pub mod leds;
pub mod simulated;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use button::{ButtonConfig, ButtonThread, Classifier, DoublePress, Gesture};
pub use leds::{Animator, LedConfig, Look, Pattern};

use crate::pipeline::Handle;

/// One LED's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb(pub u8, pub u8, pub u8);

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
    /// No LEDs, no button.
    None,
    /// The best this machine offers; with no GPIO backend for it, none (logged once).
    Auto,
    /// No hardware: every LED pattern change is logged, no button.
    Simulated,
}

/// `[hw]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HwConfig {
    pub backend: Backend,
    pub button: ButtonConfig,
    pub leds: LedConfig,
}

impl Default for HwConfig {
    fn default() -> Self {
        HwConfig {
            backend: Backend::Auto,
            button: ButtonConfig::default(),
            leds: LedConfig::default(),
        }
    }
}

/// The LEDs and the button a backend opened.
pub struct Parts {
    pub leds: Option<Box<dyn Leds>>,
    pub button: Option<Box<dyn Button>>,
}

/// Opens the configured backend.
pub fn open(config: &HwConfig) -> Result<Parts, HwError> {
    match config.backend {
        Backend::None => Ok(Parts {
            leds: None,
            button: None,
        }),
        Backend::Auto => {
            log::info!("hw: no LED/button backend for this machine; running without them");
            Ok(Parts {
                leds: None,
                button: None,
            })
        }
        Backend::Simulated => Ok(Parts {
            leds: Some(Box::new(simulated::LoggedLeds::default())),
            button: None,
        }),
    }
}

/// The LED and button threads of a running daemon. Dropping it (or [`Hw::stop`]) stops
/// both and turns the LEDs off.
pub struct Hw {
    animator: Option<Animator>,
    button: Option<ButtonThread>,
}

impl Hw {
    /// Starts the animation thread on `parts.leds` and the button thread on
    /// `parts.button`, both following / driving `handle`.
    pub fn start(parts: Parts, config: &HwConfig, handle: &Handle) -> Result<Hw, HwError> {
        let animator = parts
            .leds
            .map(|leds| Animator::spawn(leds, config.leds.clone(), handle.state()))
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
