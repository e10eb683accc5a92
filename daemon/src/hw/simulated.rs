//! The simulated backend: no hardware. LEDs are recorded as a timeline of pattern changes
//! (or logged); the button's edges come from a script, in a clock the caller chooses (for
//! `simulate`, the position in the input recording).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Button, Edge, Frame, HwError, Leds, Look, Rgb};

/// One change of what the LEDs show: the first frame of a new state or pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct LedChange {
    pub at: Instant,
    pub look: Look,
    /// Every LED's colour in that frame.
    pub colors: Vec<Rgb>,
}

/// What [`RecordedLeds`] saw.
#[derive(Debug, Default)]
pub struct Recording {
    pub changes: Vec<LedChange>,
    pub frames: u64,
    /// Set when the LEDs were turned off (shutdown).
    pub off_at: Option<Instant>,
}

/// LEDs that record every change of state or pattern.
#[derive(Clone)]
pub struct RecordedLeds {
    count: usize,
    recording: Arc<Mutex<Recording>>,
}

impl RecordedLeds {
    pub fn new(count: usize) -> Self {
        RecordedLeds {
            count,
            recording: Arc::default(),
        }
    }

    /// The recording so far (shared with the animation thread).
    pub fn recording(&self) -> Arc<Mutex<Recording>> {
        self.recording.clone()
    }
}

impl Leds for RecordedLeds {
    fn count(&self) -> usize {
        self.count
    }

    fn show(&mut self, frame: &Frame) -> Result<(), HwError> {
        let mut r = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        r.frames += 1;
        let changed = r.changes.last().is_none_or(|c| {
            (c.look.state, c.look.pattern) != (frame.look.state, frame.look.pattern)
        });
        if changed {
            r.changes.push(LedChange {
                at: frame.at,
                look: frame.look,
                colors: frame.colors.clone(),
            });
        }
        Ok(())
    }

    fn off(&mut self) -> Result<(), HwError> {
        let mut r = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        r.off_at = Some(Instant::now());
        Ok(())
    }
}

/// LEDs that log each change of state or pattern (`backend = "simulated"` in `run`).
#[derive(Default)]
pub struct LoggedLeds {
    last: Option<Look>,
}

impl Leds for LoggedLeds {
    fn count(&self) -> usize {
        1
    }

    fn show(&mut self, frame: &Frame) -> Result<(), HwError> {
        let key = |l: &Look| (l.state, l.pattern);
        if self.last.as_ref().map(key) != Some(key(&frame.look)) {
            log::info!("leds: {}", frame.look);
            self.last = Some(frame.look);
        }
        Ok(())
    }

    fn off(&mut self) -> Result<(), HwError> {
        log::info!("leds: off");
        Ok(())
    }
}

/// A button pressed by a script: edges at given times of `clock`.
pub struct ScriptedButton {
    /// Edges still to come, in time order.
    script: std::collections::VecDeque<Edge>,
    clock: Box<dyn Fn() -> Duration + Send>,
}

/// How long a scripted short press holds the button down.
pub const PRESS_MS: u64 = 120;

impl ScriptedButton {
    /// `edges` in any order; `clock` is the time they refer to.
    pub fn new(mut edges: Vec<Edge>, clock: Box<dyn Fn() -> Duration + Send>) -> Self {
        edges.sort_by_key(|e| e.at);
        ScriptedButton {
            script: edges.into(),
            clock,
        }
    }

    /// Short presses at `presses` and holds `(at, held)`: clean edges, no bounce.
    pub fn presses(presses: &[Duration], holds: &[(Duration, Duration)]) -> Vec<Edge> {
        let press = Duration::from_millis(PRESS_MS);
        presses
            .iter()
            .map(|&at| (at, press))
            .chain(holds.iter().copied())
            .flat_map(|(at, held)| {
                [
                    Edge { at, pressed: true },
                    Edge {
                        at: at + held,
                        pressed: false,
                    },
                ]
            })
            .collect()
    }

    /// A clock that runs in real time from now.
    pub fn wall_clock() -> Box<dyn Fn() -> Duration + Send> {
        let start = Instant::now();
        Box::new(move || start.elapsed())
    }
}

/// How often a scripted button looks at its clock.
const TICK: Duration = Duration::from_millis(2);

impl Button for ScriptedButton {
    fn now(&self) -> Duration {
        (self.clock)()
    }

    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError> {
        let until = Instant::now() + timeout;
        loop {
            if self.script.front().is_some_and(|e| e.at <= self.now()) {
                return Ok(self.script.pop_front());
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            std::thread::sleep(TICK.min(until - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::{button, leds, ButtonConfig, Gesture, LedConfig};
    use crate::pipeline::State;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    #[test]
    fn a_scripted_button_through_the_driver_gives_press_and_long_press() {
        // A hand-driven clock: each look at it advances 1 ms (the driver polls).
        let t = Arc::new(AtomicU64::new(0));
        let clock = {
            let t = t.clone();
            Box::new(move || Duration::from_millis(t.fetch_add(1, Ordering::SeqCst)))
        };
        let ms = Duration::from_millis;
        let edges = ScriptedButton::presses(&[ms(100)], &[(ms(600), ms(1500))]);
        let b = ScriptedButton::new(edges, clock);
        let stop = AtomicBool::new(false);
        let cfg = ButtonConfig {
            double_press: button::DoublePress::None,
            ..ButtonConfig::default()
        };
        let mut seen = Vec::new();
        button::drive(Box::new(b), &cfg, None, &stop, |g, _, _| {
            seen.push(g);
            if matches!(g, Gesture::HoldEnd { .. }) {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert_eq!(seen[0], Gesture::Press);
        assert_eq!(seen[1], Gesture::LongPress);
        assert!(matches!(seen[2], Gesture::HoldEnd { held } if held >= ms(1500)));
    }

    #[test]
    fn recorded_leds_keep_each_change_and_end_off() {
        let leds = RecordedLeds::new(3);
        let recording = leds.recording();
        let state = Arc::new(Mutex::new(State::Idle));
        let stop = Arc::new(AtomicBool::new(false));
        let cfg = LedConfig {
            fps: 100,
            ..LedConfig::default()
        };
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            let mut leds = leds.clone();
            std::thread::spawn(move || {
                leds::animate(&mut leds, &cfg, || *state.lock().unwrap(), &stop)
            })
        };
        let mut changed = Vec::new();
        for s in [
            State::Listening,
            State::Thinking,
            State::Speaking,
            State::Idle,
        ] {
            std::thread::sleep(Duration::from_millis(60));
            *state.lock().unwrap() = s;
            changed.push(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(60));
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
        let r = recording.lock().unwrap();
        let names: Vec<_> = r.changes.iter().map(|c| c.look.pattern).collect();
        assert_eq!(
            names,
            ["idle", "listening", "thinking", "speaking", "idle"],
            "{:?}",
            r.changes
        );
        assert_eq!(r.changes[1].colors, vec![Rgb(0, 0x60, 0xff); 3]);
        // Each change shows within about a frame (10 ms; slack for a loaded machine).
        for (c, at) in r.changes[1..].iter().zip(&changed) {
            let lag = c.at.duration_since(*at);
            assert!(lag < Duration::from_millis(50), "{lag:?}");
        }
        assert!(r.frames >= 20, "{} frames", r.frames);
        assert!(r.off_at.is_some());
    }
}
