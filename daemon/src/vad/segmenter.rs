//! Speech segments from per-window speech probabilities.
//!
//! A causal form of silero-vad's `get_speech_timestamps_from_probs` (without the maximum
//! speech length): the same thresholds, hysteresis and sample arithmetic, so the segments
//! match the batch reference except where it looks ahead (padding between two segments
//! closer than twice the padding, which it splits evenly after the fact).

use super::{VadConfig, VadEvent};

const RATE: f64 = 16000.0;

#[derive(Debug, Clone)]
pub struct Segmenter {
    window: u64,
    threshold: f32,
    neg_threshold: f32,
    min_speech: f64,
    min_silence: f64,
    pad: f64,
    /// Start of the window being classified.
    cur: u64,
    triggered: bool,
    announced: bool,
    start: u64,
    temp_end: u64,
    last_end: Option<u64>,
}

impl Segmenter {
    pub fn new(cfg: &VadConfig, window: usize) -> Self {
        Segmenter {
            window: window as u64,
            threshold: cfg.threshold,
            neg_threshold: (cfg.threshold - 0.15).max(0.01),
            min_speech: RATE * cfg.min_speech_ms as f64 / 1000.0,
            min_silence: RATE * cfg.min_silence_ms as f64 / 1000.0,
            pad: RATE * cfg.speech_pad_ms as f64 / 1000.0,
            cur: 0,
            triggered: false,
            announced: false,
            start: 0,
            temp_end: 0,
            last_end: None,
        }
    }

    pub fn reset(&mut self) {
        *self = Segmenter {
            cur: 0,
            triggered: false,
            announced: false,
            start: 0,
            temp_end: 0,
            last_end: None,
            ..self.clone()
        };
    }

    pub fn in_speech(&self) -> bool {
        self.triggered && self.announced
    }

    /// The last window was speech and no silence is under way (see `VoiceDetector::voiced`).
    pub fn voiced(&self) -> bool {
        self.triggered && self.temp_end == 0
    }

    /// See `VoiceDetector::silence`.
    pub fn silence(&self) -> Option<super::Silence> {
        (self.triggered && self.temp_end != 0).then(|| super::Silence {
            since: self.temp_end,
            segment_end: self.temp_end + self.pad as u64,
        })
    }

    /// Consumes the probability of the next window.
    pub fn push(&mut self, prob: f32, events: &mut Vec<VadEvent>) {
        let cur = self.cur;
        self.cur += self.window;
        if prob >= self.threshold && self.temp_end != 0 {
            self.temp_end = 0;
        }
        if prob >= self.threshold && !self.triggered {
            self.triggered = true;
            self.announced = false;
            self.start = cur;
            return;
        }
        if !self.triggered {
            return;
        }
        if prob < self.neg_threshold {
            if self.temp_end == 0 {
                self.temp_end = cur;
            }
            if ((cur - self.temp_end) as f64) < self.min_silence {
                return;
            }
            let end = self.temp_end;
            if (end - self.start) as f64 > self.min_speech {
                self.announce(events);
                events.push(VadEvent::SpeechEnd {
                    sample: end + self.pad as u64,
                });
                self.last_end = Some(end);
            }
            self.triggered = false;
            self.announced = false;
            self.temp_end = 0;
        } else if !self.announced {
            // The segment's end can be no earlier than the silence already under way, or
            // else the window after this one: once that is past min_speech the reference
            // keeps the segment, so announce it now.
            let earliest_end = if self.temp_end != 0 {
                self.temp_end
            } else {
                cur + self.window
            };
            if (earliest_end - self.start) as f64 > self.min_speech {
                self.announce(events);
            }
        }
    }

    /// End of input after `total` samples: an open segment ends there.
    pub fn finish(&mut self, total: u64, events: &mut Vec<VadEvent>) {
        if self.triggered && (total.saturating_sub(self.start)) as f64 > self.min_speech {
            self.announce(events);
            events.push(VadEvent::SpeechEnd { sample: total });
            self.last_end = Some(total);
        }
        self.triggered = false;
        self.announced = false;
        self.temp_end = 0;
    }

    fn announce(&mut self, events: &mut Vec<VadEvent>) {
        if self.announced {
            return;
        }
        self.announced = true;
        let pad = self.pad as u64;
        let sample = match self.last_end {
            Some(end) if ((self.start - end) as f64) < 2.0 * self.pad => {
                self.start - (self.start - end) / 2
            }
            _ => self.start.saturating_sub(pad),
        };
        events.push(VadEvent::SpeechStart { sample });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(probs: &[f32]) -> Vec<VadEvent> {
        let mut seg = Segmenter::new(&VadConfig::default(), 512);
        let mut events = Vec::new();
        for &p in probs {
            seg.push(p, &mut events);
        }
        seg.finish(probs.len() as u64 * 512, &mut events);
        events
    }

    #[test]
    fn short_bursts_are_dropped_and_long_speech_is_padded() {
        // 5 windows (160 ms) of speech: below the 250 ms minimum.
        let mut probs = vec![0.0; 10];
        probs.extend([0.9; 5]);
        probs.extend([0.0; 40]);
        assert!(run(&probs).is_empty());

        // 20 windows of speech from window 10, then 40 of silence.
        let mut probs = vec![0.0; 10];
        probs.extend([0.9; 20]);
        probs.extend([0.0; 40]);
        assert_eq!(
            run(&probs),
            vec![
                VadEvent::SpeechStart {
                    sample: 10 * 512 - 480
                },
                VadEvent::SpeechEnd {
                    sample: 30 * 512 + 480
                },
            ]
        );
    }

    #[test]
    fn a_dip_shorter_than_min_silence_keeps_one_segment() {
        let mut probs = vec![0.9; 20];
        probs.extend([0.1; 5]);
        probs.extend([0.9; 20]);
        assert_eq!(
            run(&probs),
            vec![
                VadEvent::SpeechStart { sample: 0 },
                VadEvent::SpeechEnd { sample: 45 * 512 },
            ]
        );
    }

    #[test]
    fn voiced_follows_each_window_while_in_speech_follows_the_segment() {
        let mut seg = Segmenter::new(&VadConfig::default(), 512);
        let mut events = Vec::new();
        let mut push = |p| {
            seg.push(p, &mut events);
            (seg.voiced(), seg.in_speech())
        };
        // Speech rises: voiced at once, in speech once it outlasts min_speech (250 ms).
        assert_eq!(push(0.9), (true, false));
        for _ in 0..8 {
            push(0.9);
        }
        assert_eq!(push(0.9), (true, true));
        // Between the thresholds (0.35..0.5) it stays voiced; below, the dip shows at once
        // while the segment goes on until min_silence (600 ms).
        assert_eq!(push(0.4), (true, true));
        assert_eq!(push(0.1), (false, true));
        assert_eq!(push(0.9), (true, true));
    }
}
