//! Lines the far-end reference up with the microphone and runs the canceller.
//!
//! Both sides are placed on one 16 kHz timeline counted from the aligner's creation: a
//! reference period at the instant it is played, a microphone sample at the instant it was
//! captured (the capture ring's position, anchored at the earliest instant each frame could
//! have been read). The canceller gets, with each microphone frame, the reference from
//! `delay_ms` − [`MARGIN_MS`] earlier, so the echo always follows its reference within the
//! filter's tail; a simulated [`Room`] (if any) adds its echo first, from the same timeline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::reference::ReferenceReader;
use super::room::{Room, RoomSettings};
use super::{EchoCanceller, FRAME, MARGIN_MS};
use crate::audio::resample::StreamResampler;
use crate::audio::SAMPLE_RATE;

const RATE: i64 = SAMPLE_RATE as i64;

/// With no reference period for this long, the speaker is taken as silent: microphone frames
/// go on without waiting for reference that will not come.
const IDLE: Duration = Duration::from_millis(100);
/// A frame never waits for its reference longer than this (60 ms) past its capture.
const MAX_WAIT_SAMPLES: i64 = RATE * 60 / 1000;
/// Periods closer to where the previous one ended than this continue its stream (timestamps
/// jitter by a period or so); further off, a new stream starts at the stamp.
const JITTER: i64 = RATE / 50;

#[derive(Debug, Clone, Default)]
pub struct AlignerSettings {
    /// `[aec] delay_ms`: the echo's delay past the timestamps.
    pub delay_ms: u32,
    /// `[aec] tail_ms`: how long after the reference goes quiet its echo can still be heard.
    pub tail_ms: u32,
    /// A simulated room between speaker and microphone (`simulate --echo`).
    pub room: Option<RoomSettings>,
}

/// The reference timeline: 16 kHz samples from position `start` on.
struct Timeline {
    start: i64,
    samples: VecDeque<i16>,
    /// The current stream: its rate, converter, first position, input fed and output made.
    stream: Option<Stream>,
    /// Last position with audible reference.
    last_loud: Option<i64>,
}

struct Stream {
    rate: u32,
    resampler: Option<StreamResampler>,
    origin: i64,
    fed: u64,
    produced: u64,
}

const CHUNK: usize = 4096;

impl Timeline {
    fn end(&self) -> i64 {
        self.start + self.samples.len() as i64
    }

    fn at(&self, pos: i64) -> i16 {
        if pos < self.start {
            return 0;
        }
        self.samples
            .get((pos - self.start) as usize)
            .copied()
            .unwrap_or(0)
    }

    fn put(&mut self, pos: i64, values: &[i16]) {
        for (i, &v) in values.iter().enumerate() {
            let p = pos + i as i64;
            if p < self.start {
                continue;
            }
            let end = self.end();
            if p >= end {
                self.samples
                    .extend(std::iter::repeat_n(0, (p - end) as usize));
                self.samples.push_back(v);
            } else {
                self.samples[(p - self.start) as usize] = v;
            }
            if v.unsigned_abs() > 8 {
                self.last_loud = Some(self.last_loud.map_or(p, |l| l.max(p)));
            }
        }
    }

    fn forget_before(&mut self, pos: i64) {
        let n = (pos - self.start).clamp(0, self.samples.len() as i64);
        self.samples.drain(..n as usize);
        self.start += n;
        if self.samples.is_empty() && pos > self.start {
            self.start = pos;
        }
    }

    /// Places one period (`rate` Hz) whose first sample sits at position `pos`.
    fn add(&mut self, pos: i64, rate: u32, samples: &[i16], out: &mut Vec<i16>) {
        let continues = self.stream.as_ref().is_some_and(|s| {
            let expected = s.origin + (s.fed as i64 * RATE) / s.rate as i64;
            s.rate == rate && (pos - expected).abs() <= JITTER
        });
        if !continues {
            self.end_stream(out);
            let resampler = (rate != SAMPLE_RATE)
                .then(|| StreamResampler::new(rate, SAMPLE_RATE, CHUNK).ok())
                .flatten();
            self.stream = Some(Stream {
                rate,
                resampler,
                origin: pos,
                fed: 0,
                produced: 0,
            });
        }
        let mut s = self.stream.take().expect("set above");
        for chunk in samples.chunks(CHUNK) {
            s.fed += chunk.len() as u64;
            let made: &[i16] = match s.resampler.as_mut() {
                Some(r) => {
                    out.resize(r.max_output(chunk.len()), 0);
                    let n = r.process(chunk, out);
                    &out[..n]
                }
                None => chunk,
            };
            self.put(s.origin + s.produced as i64, made);
            s.produced += made.len() as u64;
        }
        self.stream = Some(s);
    }

    fn end_stream(&mut self, out: &mut Vec<i16>) {
        if let Some(mut s) = self.stream.take() {
            if let Some(r) = s.resampler.as_mut().filter(|r| r.pending()) {
                out.resize(r.max_output(CHUNK), 0);
                let n = r.finish(out);
                let tail = out[..n].to_vec();
                self.put(s.origin + s.produced as i64, &tail);
            }
        }
    }
}

/// The capture side of echo cancellation: reference in, microphone frames cancelled in place.
pub struct Aligner {
    reader: ReferenceReader,
    canceller: Option<Box<dyn EchoCanceller>>,
    room: Option<Room>,
    epoch: Instant,
    /// Where capture sample 0 sits on the timeline (the earliest seen; None before a frame).
    anchor: Option<i64>,
    /// Capture samples taken so far.
    taken: u64,
    timeline: Timeline,
    last_period: Option<Instant>,
    /// Reference lead: the reference sample given with microphone position p is p − lag.
    lag: i64,
    tail: i64,
    period: Vec<i16>,
    scratch: Vec<i16>,
    far: Vec<i16>,
    played: Vec<i16>,
    out: Vec<i16>,
    /// 10 ms frames cancelled, and passed through because nothing was playing.
    pub cancelled: u64,
    pub passed: u64,
}

impl Aligner {
    pub fn new(
        reader: ReferenceReader,
        canceller: Option<Box<dyn EchoCanceller>>,
        settings: &AlignerSettings,
    ) -> Aligner {
        let lag = (settings.delay_ms as i64 - MARGIN_MS as i64) * RATE / 1000;
        Aligner {
            reader,
            canceller,
            room: settings.room.as_ref().map(Room::new),
            epoch: Instant::now(),
            anchor: None,
            taken: 0,
            timeline: Timeline {
                start: 0,
                samples: VecDeque::new(),
                stream: None,
                last_loud: None,
            },
            last_period: None,
            lag,
            tail: settings.tail_ms as i64 * RATE / 1000,
            period: Vec::new(),
            scratch: Vec::new(),
            far: vec![0; FRAME],
            played: vec![0; FRAME],
            out: vec![0; FRAME],
            cancelled: 0,
            passed: 0,
        }
    }

    fn position(&self, at: Instant) -> i64 {
        if at >= self.epoch {
            ((at - self.epoch).as_nanos() as i64) * RATE / 1_000_000_000
        } else {
            -(((self.epoch - at).as_nanos() as i64) * RATE / 1_000_000_000)
        }
    }

    fn take_reference(&mut self, now: Instant) {
        while let Some(p) = self.reader.pop(&mut self.period) {
            let pos = self.position(p.at);
            let period = std::mem::take(&mut self.period);
            self.timeline.add(pos, p.rate, &period, &mut self.scratch);
            self.period = period;
            self.last_period = Some(now);
        }
    }

    /// Notes `n` new capture samples, read from the ring at `read_at`; false while the
    /// frame should wait for its reference (call again with the same frame).
    pub fn ready(&mut self, n: usize, read_at: Instant) -> bool {
        let now = Instant::now();
        self.take_reference(now);
        let end = self.taken as i64 + n as i64;
        let earliest = self.position(read_at) - end;
        let anchor = self.anchor.map_or(earliest, |a| a.min(earliest));
        self.anchor = Some(anchor);
        let room_lag = self.room.as_ref().map_or(self.lag, |r| r.delay() as i64);
        let needed = anchor + end - self.lag.min(room_lag);
        self.timeline.end() >= needed
            || self.last_period.is_none_or(|t| now - t >= IDLE)
            || self.position(now) >= needed + MAX_WAIT_SAMPLES
    }

    /// Adds the simulated room's echo (if any) and cancels the echo in `frame`, the next
    /// capture samples after those of the previous call.
    pub fn process(&mut self, frame: &mut [i16]) {
        let anchor = self.anchor.unwrap_or(0);
        for sub in frame.chunks_mut(FRAME) {
            let mic0 = anchor + self.taken as i64;
            self.taken += sub.len() as u64;
            let n = sub.len();
            if let Some(room) = self.room.as_mut() {
                let d = room.delay() as i64;
                for (j, p) in self.played[..n].iter_mut().enumerate() {
                    *p = self.timeline.at(mic0 + j as i64 - d);
                }
                room.add_echo(&self.played[..n], sub);
            }
            let far0 = mic0 - self.lag;
            let echo_possible = self
                .timeline
                .last_loud
                .is_some_and(|l| far0 <= l + self.tail);
            match self.canceller.as_mut() {
                Some(c) if echo_possible && n == FRAME => {
                    for (j, f) in self.far.iter_mut().enumerate() {
                        *f = self.timeline.at(far0 + j as i64);
                    }
                    c.cancel(sub, &self.far, &mut self.out);
                    sub.copy_from_slice(&self.out);
                    self.cancelled += 1;
                }
                _ => self.passed += 1,
            }
            let room_lag = self.room.as_ref().map_or(self.lag, |r| r.delay() as i64);
            self.timeline
                .forget_before(mic0 - self.lag.max(room_lag) - RATE);
        }
    }
}
