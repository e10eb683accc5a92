//! A simulated loudspeaker-to-microphone path, for `hearken simulate --echo` and the
//! benchmark: the speaker's high-pass and soft clipping, a bulk delay, a decaying impulse
//! response (RT60) and the microphone's noise floor.
//!
//! The impulse response is a direct path plus a dense early part and sparse late
//! reflections with exponentially decaying random amplitudes: the same energy decay as a
//! dense decaying-noise response at a tenth of the cost, so the simulation runs in the
//! unoptimised test builds.

use std::collections::VecDeque;
use std::str::FromStr;

/// What `--echo ROOM` parses: comma-separated `key=value` (all optional):
/// `delay_ms` (bulk delay, 100), `rt60` (seconds, 0.3), `gain_db` (echo level against what
/// was played, -6), `noise_dbfs` (-65), `seed` (1).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSettings {
    pub delay_ms: u32,
    pub rt60_s: f32,
    pub gain_db: f32,
    pub noise_dbfs: f32,
    pub seed: u64,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            delay_ms: 100,
            rt60_s: 0.3,
            gain_db: -6.0,
            noise_dbfs: -65.0,
            seed: 1,
        }
    }
}

impl FromStr for RoomSettings {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut room = RoomSettings::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not key=value (e.g. delay_ms=120)"))?;
            let bad = |what: &str| format!("`{key}={value}`: {what}");
            let number = value
                .trim()
                .parse::<f64>()
                .map_err(|_| bad("not a number"))?;
            match key.trim() {
                "delay_ms" if (0.0..=1000.0).contains(&number) => room.delay_ms = number as u32,
                "rt60" if (0.0..=2.0).contains(&number) => room.rt60_s = number as f32,
                "gain_db" if (-60.0..=20.0).contains(&number) => room.gain_db = number as f32,
                "noise_dbfs" if (-120.0..=-20.0).contains(&number) => {
                    room.noise_dbfs = number as f32
                }
                "seed" if number >= 0.0 => room.seed = number as u64,
                "delay_ms" => return Err(bad("out of range 0..=1000")),
                "rt60" => return Err(bad("out of range 0..=2 (seconds)")),
                "gain_db" => return Err(bad("out of range -60..=20")),
                "noise_dbfs" => return Err(bad("out of range -120..=-20")),
                "seed" => return Err(bad("must not be negative")),
                other => {
                    return Err(format!(
                        "unknown room key `{other}` (delay_ms, rt60, gain_db, noise_dbfs, seed)"
                    ))
                }
            }
        }
        Ok(room)
    }
}

/// The room as a stream: feed what the speaker plays, get what the microphone hears of it.
pub struct Room {
    /// (delay in samples, gain) per reflection.
    taps: Vec<(usize, f32)>,
    /// The speaker's output, newest last, as long as the longest reflection.
    history: VecDeque<f32>,
    hp_prev_in: f32,
    hp_prev_out: f32,
    noise: f32,
    rng: u64,
    delay: usize,
}

const RATE: f32 = crate::audio::SAMPLE_RATE as f32;

impl Room {
    pub fn new(s: &RoomSettings) -> Room {
        let mut rng = s
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = (s.delay_ms as f32 * RATE / 1000.0) as usize;
        let len = ((s.rt60_s * RATE) as usize).max(1);
        // Amplitude falls 60 dB over rt60: exp(-6.9 t / rt60).
        let decay = |n: usize| (-6.9 * n as f32 / len as f32).exp();
        let mut taps = vec![(0usize, 1.0f32)];
        let early = (RATE * 0.005) as usize;
        for n in 1..early.min(len) {
            taps.push((n, 0.5 * uniform(&mut rng) * decay(n)));
        }
        // Late reflections: 400 of them, each standing in for the dense taps around it, so
        // the energy decays as a dense response's would.
        let late = 400usize;
        if len > early {
            let span = (len - early) as f32 / late as f32;
            for i in 0..late {
                let n = early + ((i as f32 + 0.5 * (uniform(&mut rng) + 1.0)) * span) as usize;
                if n < len {
                    taps.push((n, 0.5 * uniform(&mut rng) * decay(n) * span.sqrt()));
                }
            }
        }
        let energy: f32 = taps.iter().map(|(_, g)| g * g).sum();
        let gain = 10f32.powf(s.gain_db / 20.0) / energy.sqrt();
        for t in &mut taps {
            t.1 *= gain;
        }
        let longest = taps.iter().map(|t| t.0).max().unwrap_or(0) + 1;
        Room {
            taps,
            history: VecDeque::from(vec![0.0; longest]),
            hp_prev_in: 0.0,
            hp_prev_out: 0.0,
            noise: 10f32.powf(s.noise_dbfs / 20.0) * 32768.0,
            rng,
            delay,
        }
    }

    /// The bulk delay, in samples.
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Adds the echo of `played` (the speaker's input `delay` samples before `mic`'s
    /// samples) and the noise floor to `mic`.
    pub fn add_echo(&mut self, played: &[i16], mic: &mut [i16]) {
        for (&p, m) in played.iter().zip(mic.iter_mut()) {
            // A small speaker: no bass (first-order high-pass near 150 Hz), then soft
            // clipping of the loud parts.
            let x = p as f32 / 32768.0;
            let hp = 0.944 * (self.hp_prev_out + x - self.hp_prev_in);
            self.hp_prev_in = x;
            self.hp_prev_out = hp;
            let driven = (1.5 * hp).tanh() / 1.5;
            self.history.pop_front();
            self.history.push_back(driven);
            let newest = self.history.len() - 1;
            let echo: f32 = self
                .taps
                .iter()
                .map(|&(n, g)| g * self.history[newest - n])
                .sum();
            let noise = self.noise * uniform(&mut self.rng) * 1.732;
            let y = *m as f32 + echo * 32768.0 + noise;
            *m = y.clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// Uniform in [-1, 1) from a 64-bit LCG: reproducible without a dependency.
fn uniform(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// The whole recording at once: `near` plus the echo of `far` (same rate and start).
pub fn mix(room: &RoomSettings, far: &[i16], near: &[i16]) -> Vec<i16> {
    let mut r = Room::new(room);
    let mut mic = near.to_vec();
    let n = mic.len();
    let mut played = vec![0i16; n];
    for (i, p) in played.iter_mut().enumerate() {
        if i >= r.delay {
            *p = far.get(i - r.delay).copied().unwrap_or(0);
        }
    }
    r.add_echo(&played, &mut mic);
    mic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_keys_parse_and_bad_ones_are_named() {
        let r: RoomSettings = "delay_ms=120, rt60=0.4,gain_db=3".parse().unwrap();
        assert_eq!(r.delay_ms, 120);
        assert_eq!(r.rt60_s, 0.4);
        assert_eq!(r.gain_db, 3.0);
        assert!("delay=3"
            .parse::<RoomSettings>()
            .unwrap_err()
            .contains("delay"));
        assert!("delay_ms=5000"
            .parse::<RoomSettings>()
            .unwrap_err()
            .contains("delay_ms=5000"));
        assert!("rt60"
            .parse::<RoomSettings>()
            .unwrap_err()
            .contains("key=value"));
    }

    #[test]
    fn the_echo_comes_after_the_delay_and_decays() {
        let room = RoomSettings {
            delay_ms: 50,
            noise_dbfs: -120.0,
            gain_db: 0.0,
            ..Default::default()
        };
        let mut far = vec![0i16; 16_000];
        far[0] = 20_000;
        let mic = mix(&room, &far, &[0i16; 16_000]);
        assert!(mic[..800].iter().all(|&s| s == 0));
        assert!(mic[800] > 1000, "direct path at 50 ms: {}", mic[800]);
        let energy = |s: &[i16]| s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>();
        let early = energy(&mic[800..800 + 1600]);
        let late = energy(&mic[800 + 3200..800 + 4800]);
        assert!(late * 100.0 < early, "early {early}, late {late}");
    }
}
