//! LED patterns per conversation state, the renderer (a pure function of the pattern and
//! the time since the state began) and the animation thread, which samples the pipeline's
//! state at a fixed frame rate: the pipeline only publishes state changes through a watch
//! channel, so the LEDs can never block or slow the audio path.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::sync::watch;

use super::{Frame, Leds, Rgb};
use crate::config::checked;
use crate::pipeline::supervise::{self, Exit};
use crate::pipeline::State;

/// How a state's LEDs move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Off,
    /// Always at full brightness.
    Solid,
    /// A quick rise and fall: linear up over the first half of the period, down over the
    /// second.
    Pulse,
    /// A slow, smooth swell: a raised cosine from dark to full and back.
    Breathe,
    /// On for the first half of the period, off for the second.
    Blink,
}

/// One state's look. A state's table in the config replaces its default pattern as a
/// whole; keys it leaves out are those of `Pattern::default()` (solid white, full, 1 s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pattern {
    pub pattern: Kind,
    /// `"#rrggbb"`; plain GPIO LEDs use its brightest channel as their level.
    pub color: Color,
    /// Peak brightness, 0..1.
    #[serde(deserialize_with = "checked::fraction")]
    pub brightness: f32,
    /// One cycle of pulse, breathe or blink.
    #[serde(deserialize_with = "checked::u32_in::<_, 100, 60_000>")]
    pub period_ms: u32,
}

impl Default for Pattern {
    fn default() -> Self {
        Pattern::new(Kind::Solid, Color(Rgb(0xff, 0xff, 0xff)), 1.0, 1000)
    }
}

impl Pattern {
    pub const fn new(pattern: Kind, color: Color, brightness: f32, period_ms: u32) -> Self {
        Pattern {
            pattern,
            color,
            brightness,
            period_ms,
        }
    }

    /// The level (0..1) `t` after the pattern began.
    pub fn level(&self, t: Duration) -> f32 {
        let period = u128::from(self.period_ms.max(1)) * 1000;
        let phase = (t.as_micros() % period) as f32 / period as f32;
        let wave = match self.pattern {
            Kind::Off => 0.0,
            Kind::Solid => 1.0,
            Kind::Pulse => 1.0 - (2.0 * phase - 1.0).abs(),
            Kind::Breathe => 0.5 - 0.5 * (2.0 * std::f32::consts::PI * phase).cos(),
            Kind::Blink => {
                if phase < 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
        };
        wave * self.brightness
    }

    /// The colour `t` after the pattern began.
    pub fn render(&self, t: Duration) -> Rgb {
        let level = self.level(t);
        let Rgb(r, g, b) = self.color.0;
        let scale = |c: u8| (f32::from(c) * level).round().clamp(0.0, 255.0) as u8;
        Rgb(scale(r), scale(g), scale(b))
    }
}

/// A colour written `"#rrggbb"` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub Rgb);

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Rgb(r, g, b) = self.0;
        s.serialize_str(&format!("#{r:02x}{g:02x}{b:02x}"))
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_color(&text).map(Color).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "\"{text}\" is not a colour: expected \"#rrggbb\" (e.g. \"#ff0000\")"
            ))
        })
    }
}

fn parse_color(text: &str) -> Option<Rgb> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some(Rgb(byte(0)?, byte(2)?, byte(4)?))
}

const fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color(Rgb(r, g, b))
}

/// `[hw.leds]`: the frame rate and one pattern per state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LedConfig {
    /// Animation frames per second.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 120>")]
    pub fps: u32,
    /// How long the error pattern shows before the LEDs go back to idle's.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 60_000>")]
    pub error_ms: u32,
    pub idle: Pattern,
    pub listening: Pattern,
    pub thinking: Pattern,
    pub speaking: Pattern,
    pub follow_up: Pattern,
    pub muted: Pattern,
    pub error: Pattern,
}

impl Default for LedConfig {
    fn default() -> Self {
        use Kind::*;
        LedConfig {
            fps: 30,
            error_ms: 3000,
            idle: Pattern::new(Off, rgb(0, 0, 0), 1.0, 1000),
            listening: Pattern::new(Solid, rgb(0, 0x60, 0xff), 1.0, 1000),
            thinking: Pattern::new(Pulse, rgb(0, 0x60, 0xff), 1.0, 600),
            speaking: Pattern::new(Breathe, rgb(0, 0xc0, 0x60), 1.0, 1500),
            follow_up: Pattern::new(Solid, rgb(0, 0x60, 0xff), 0.2, 1000),
            muted: Pattern::new(Solid, rgb(0xff, 0, 0), 1.0, 1000),
            error: Pattern::new(Blink, rgb(0xff, 0x30, 0), 1.0, 400),
        }
    }
}

/// What the LEDs show at a moment: the state, the name of the pattern (its config key:
/// `error` gives way to `idle` after `error_ms`) and the colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub state: State,
    pub pattern: &'static str,
    pub color: Rgb,
}

impl LedConfig {
    /// The pattern (and its name) for `state`, `since` after it began.
    pub fn pattern(&self, state: State, since: Duration) -> (&'static str, &Pattern) {
        match state {
            State::Idle => ("idle", &self.idle),
            State::Listening => ("listening", &self.listening),
            State::Thinking => ("thinking", &self.thinking),
            State::Speaking => ("speaking", &self.speaking),
            State::FollowUp => ("follow_up", &self.follow_up),
            State::Muted => ("muted", &self.muted),
            State::Error if since < Duration::from_millis(self.error_ms.into()) => {
                ("error", &self.error)
            }
            State::Error => ("idle", &self.idle),
        }
    }

    /// The renderer: what `state` looks like `since` after it began.
    pub fn look(&self, state: State, since: Duration) -> Look {
        let (name, pattern) = self.pattern(state, since);
        Look {
            state,
            pattern: name,
            color: pattern.render(since),
        }
    }

    pub fn frame_period(&self) -> Duration {
        Duration::from_micros(1_000_000 / u64::from(self.fps.max(1)))
    }
}

impl fmt::Display for Look {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Rgb(r, g, b) = self.color;
        write!(
            f,
            "{:?}: {} #{r:02x}{g:02x}{b:02x}",
            self.state, self.pattern
        )
    }
}

/// The animation thread's body: renders `state`'s pattern at the configured frame rate
/// until `stop`, then turns the LEDs off. A failing backend is logged once and retried
/// every frame (LEDs never take the daemon down).
pub fn animate(
    leds: &mut dyn Leds,
    config: &LedConfig,
    mut state: impl FnMut() -> State,
    stop: &AtomicBool,
) {
    let period = config.frame_period();
    let count = leds.count();
    let mut current = state();
    let mut since = Instant::now();
    let mut next = since;
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let s = state();
        if s != current {
            current = s;
            since = now;
        }
        let look = config.look(current, now - since);
        let frame = Frame {
            at: now,
            look,
            colors: vec![look.color; count],
        };
        match leds.show(&frame) {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                log::warn!("LEDs: {e}");
                failing = true;
            }
            Err(_) => {}
        }
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Late (a loaded machine): skip the missed frames rather than rush them.
            next = now;
        }
    }
    if let Err(e) = leds.off() {
        log::warn!("LEDs: cannot turn them off: {e}");
    }
}

/// A running animation thread; stopping it (or dropping it) turns the LEDs off.
pub struct Animator {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Animator {
    /// `on_exit` hears how the thread ended (a panic, or the stop).
    pub fn spawn(
        mut leds: Box<dyn Leds>,
        config: LedConfig,
        state: watch::Receiver<State>,
        on_exit: impl FnOnce(Exit) + Send + 'static,
    ) -> std::io::Result<Animator> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = supervise::spawn("leds", on_exit, move || {
            animate(leds.as_mut(), &config, || *state.borrow(), &flag)
        })?;
        Ok(Animator {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the animation and waits until the LEDs are off.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Animator {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn waves_at_given_times() {
        let c = rgb(200, 100, 0);
        let pulse = Pattern::new(Kind::Pulse, c, 1.0, 1000);
        assert_eq!(pulse.level(ms(0)), 0.0);
        assert_eq!(pulse.level(ms(250)), 0.5);
        assert_eq!(pulse.level(ms(500)), 1.0);
        assert_eq!(pulse.level(ms(750)), 0.5);
        assert_eq!(pulse.level(ms(1500)), 1.0);
        assert_eq!(pulse.render(ms(250)), Rgb(100, 50, 0));

        let breathe = Pattern::new(Kind::Breathe, c, 0.5, 2000);
        assert!(breathe.level(ms(0)).abs() < 1e-6);
        assert!((breathe.level(ms(500)) - 0.25).abs() < 1e-6);
        assert!((breathe.level(ms(1000)) - 0.5).abs() < 1e-6);
        assert_eq!(breathe.render(ms(1000)), Rgb(100, 50, 0));

        let blink = Pattern::new(Kind::Blink, c, 1.0, 400);
        assert_eq!(blink.render(ms(0)), Rgb(200, 100, 0));
        assert_eq!(blink.render(ms(199)), Rgb(200, 100, 0));
        assert_eq!(blink.render(ms(200)), Rgb(0, 0, 0));
        assert_eq!(blink.render(ms(400)), Rgb(200, 100, 0));

        let solid = Pattern::new(Kind::Solid, c, 0.2, 1000);
        assert_eq!(solid.render(ms(12_345)), Rgb(40, 20, 0));
        assert_eq!(
            Pattern::new(Kind::Off, c, 1.0, 1000).render(ms(3)),
            Rgb(0, 0, 0)
        );
    }

    #[test]
    fn every_state_has_its_pattern_and_error_gives_way_to_idle() {
        let c = LedConfig::default();
        let name = |s, t| c.look(s, ms(t)).pattern;
        assert_eq!(name(State::Idle, 0), "idle");
        assert_eq!(c.look(State::Idle, ms(100)).color, Rgb(0, 0, 0));
        assert_eq!(name(State::Listening, 0), "listening");
        assert_eq!(c.look(State::Listening, ms(777)).color, Rgb(0, 0x60, 0xff));
        assert_eq!(name(State::Thinking, 0), "thinking");
        assert_eq!(c.look(State::Thinking, ms(300)).color, Rgb(0, 0x60, 0xff));
        assert_eq!(name(State::Speaking, 0), "speaking");
        assert_eq!(name(State::FollowUp, 0), "follow_up");
        assert_eq!(c.look(State::Muted, ms(5000)).color, Rgb(0xff, 0, 0));
        assert_eq!(name(State::Muted, 0), "muted");
        assert_eq!(name(State::Error, 0), "error");
        assert_eq!(c.look(State::Error, ms(0)).color, Rgb(0xff, 0x30, 0));
        assert_eq!(name(State::Error, 2999), "error");
        assert_eq!(name(State::Error, 3000), "idle");
        assert_eq!(c.look(State::Error, ms(3000)).state, State::Error);
        assert_eq!(c.frame_period(), Duration::from_micros(33_333));
    }

    #[test]
    fn patterns_and_colours_parse_and_refuse_what_is_not_one() {
        let c: LedConfig = toml::from_str(
            "fps = 50\n[thinking]\npattern = \"breathe\"\ncolor = \"#FF8000\"\nperiod_ms = 800\n",
        )
        .unwrap();
        assert_eq!(c.fps, 50);
        assert_eq!(
            c.thinking,
            Pattern::new(Kind::Breathe, rgb(0xff, 0x80, 0), 1.0, 800)
        );
        assert_eq!(c.idle, LedConfig::default().idle);
        let err = |t: &str| {
            toml::from_str::<LedConfig>(t)
                .unwrap_err()
                .message()
                .to_string()
        };
        assert!(err("[idle]\ncolor = \"red\"").contains("expected \"#rrggbb\""));
        assert!(err("[idle]\ncolor = \"#12345\"").contains("is not a colour"));
        assert_eq!(err("fps = 0"), "0 is out of range 1..120");
        assert_eq!(err("[idle]\nbrightness = 2"), "2 is out of range 0..1");
        assert!(err("[idle]\npattern = \"strobe\"").contains("expected one of"));
        assert_eq!(
            toml::to_string(&c.muted).unwrap().lines().nth(1),
            Some("color = \"#ff0000\"")
        );
    }
}
