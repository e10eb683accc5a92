//! The playback thread: lock-free ring → (resampling) → ALSA.
//!
//! Callers write mono i16 at the source rate (the TTS voice's); the thread converts to the
//! device's rate and channel count, one period at a time, so a flush (barge-in) takes
//! effect within one period. The per-period loop allocates nothing, takes no lock and logs
//! nothing; instants are published through atomics as nanoseconds since a base `Instant`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use alsa::pcm::State;
use alsa::Direction;
use rtrb::{Consumer, Producer, RingBuffer};

use super::pcm::{self, Opened};
use super::reopen::{DeviceInfo, Reopen};
use super::resample::StreamResampler;
use super::{AudioConfig, AudioError};
use crate::aec::reference::ReferenceWriter;

#[derive(Debug, Clone)]
pub struct PlaybackSettings {
    pub device: String,
    /// Rate asked of the device; 0 = the source rate (ALSA's plug layer converts if needed).
    pub rate: u32,
    /// Channels asked of the device; mono is copied to each.
    pub channels: u32,
    pub period_ms: u32,
    pub periods: u32,
    /// Ring length in milliseconds of source audio.
    pub ring_ms: u32,
    /// Keep trying to open in the background instead of failing `start`.
    pub retry_open: bool,
    pub backoff_max: Duration,
    /// Release audio to the device at real-time speed, for devices that do not pace
    /// themselves (the file plugin over `null`), so flushes and timings behave as on a
    /// speaker. Real devices: false.
    pub paced: bool,
    /// SCHED_FIFO priority the thread asks for (`audio.rt_priority`; 0 = off).
    pub rt_priority: u32,
}

impl PlaybackSettings {
    pub fn from_config(cfg: &AudioConfig) -> Self {
        PlaybackSettings {
            device: cfg.playback_device.clone(),
            rate: cfg.playback_rate,
            channels: 1,
            period_ms: cfg.period_ms,
            periods: cfg.periods,
            ring_ms: cfg.ring_ms,
            retry_open: true,
            backoff_max: Duration::from_millis(cfg.reopen_max_ms as u64),
            paced: cfg.capture_pacing == super::Pacing::Realtime,
            rt_priority: cfg.rt_priority,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackState {
    Starting,
    Running,
    Reopening,
    Stopped,
}

#[derive(Debug, Clone, Copy)]
pub struct PlaybackStats {
    /// Source samples written to ALSA.
    pub written: u64,
    /// Frames written to the device (at its rate).
    pub device_frames: u64,
    /// Source samples discarded by flushes.
    pub flushed: u64,
    /// ALSA underruns while audio was queued (the ring ran dry mid-stream, or the thread
    /// was late), recovered.
    pub underruns: u64,
    pub reopens: u64,
    pub device_rate: u32,
    pub device_channels: u32,
    pub state: PlaybackState,
}

struct Shared {
    base: Instant,
    stop: AtomicBool,
    flush_requested: AtomicU64,
    flush_done: AtomicU64,
    drain_requested: AtomicU64,
    drain_done: AtomicU64,
    /// Source samples written into the ring by the caller.
    pushed: AtomicU64,
    written: AtomicU64,
    flushed: AtomicU64,
    device_frames: AtomicU64,
    underruns: AtomicU64,
    armed: AtomicBool,
    /// Nanoseconds since `base` plus one; 0 = not yet.
    first_write_ns: AtomicU64,
    ended_ns: AtomicU64,
    /// Nothing queued in the ring, the resampler or the device.
    idle: AtomicBool,
    device: DeviceInfo,
    state: AtomicU8,
}

impl Shared {
    fn stamp(&self, slot: &AtomicU64) {
        slot.store(self.base.elapsed().as_nanos() as u64 + 1, Ordering::Release);
    }
    fn instant(&self, slot: &AtomicU64) -> Option<Instant> {
        match slot.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.base + Duration::from_nanos(ns - 1)),
        }
    }
    fn state(&self) -> PlaybackState {
        match self.state.load(Ordering::Acquire) {
            1 => PlaybackState::Running,
            2 => PlaybackState::Reopening,
            3 => PlaybackState::Stopped,
            _ => PlaybackState::Starting,
        }
    }
    fn set_state(&self, s: PlaybackState) {
        self.state.store(s as u8, Ordering::Release);
    }
}

/// A running playback thread and the writing end of its ring.
pub struct Playback {
    producer: Producer<i16>,
    control: PlaybackControl,
    thread: Option<JoinHandle<()>>,
    source_rate: u32,
    device: String,
}

/// The thread-safe half of a [`Playback`]: flush (barge-in), drain, timing and stats from
/// any thread while another one writes. Cheap to clone.
#[derive(Clone)]
pub struct PlaybackControl {
    shared: Arc<Shared>,
    waker: Thread,
}

/// Marks the thread stopped however it ends (a panic included), so waiters return.
struct StoppedOnDrop(Arc<Shared>);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        self.0.set_state(PlaybackState::Stopped);
    }
}

impl Playback {
    /// Starts the playback thread for mono audio at `source_rate` Hz.
    pub fn start(cfg: &PlaybackSettings, source_rate: u32) -> Result<Playback, AudioError> {
        Self::start_with_reference(cfg, source_rate, None)
    }

    /// [`start`](Self::start), publishing every period written (as written to the device,
    /// mono, with the instant it is played) to the echo canceller's `reference`.
    pub fn start_with_reference(
        cfg: &PlaybackSettings,
        source_rate: u32,
        reference: Option<ReferenceWriter>,
    ) -> Result<Playback, AudioError> {
        let shared = Arc::new(Shared {
            base: Instant::now(),
            stop: AtomicBool::new(false),
            flush_requested: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            drain_requested: AtomicU64::new(0),
            drain_done: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
            written: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            device_frames: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            armed: AtomicBool::new(false),
            first_write_ns: AtomicU64::new(0),
            ended_ns: AtomicU64::new(0),
            idle: AtomicBool::new(true),
            device: DeviceInfo::default(),
            state: AtomicU8::new(PlaybackState::Starting as u8),
        });
        let rate = if cfg.rate == 0 { source_rate } else { cfg.rate };
        let first = if cfg.retry_open {
            None
        } else {
            Some(open(cfg, rate)?)
        };
        let capacity = (source_rate as u64 * cfg.ring_ms as u64 / 1000).max(1024) as usize;
        let (producer, consumer) = RingBuffer::new(capacity);
        let thread = {
            let cfg = cfg.clone();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hearken-playback".into())
                .spawn(move || {
                    let _stopped = StoppedOnDrop(shared.clone());
                    super::realtime::request(cfg.rt_priority as u8, "playback");
                    run(first, &cfg, rate, source_rate, consumer, reference, &shared)
                })
        }
        .map_err(|source| AudioError::Thread {
            device: cfg.device.clone(),
            source,
        })?;
        Ok(Playback {
            producer,
            control: PlaybackControl {
                waker: thread.thread().clone(),
                shared,
            },
            thread: Some(thread),
            source_rate,
            device: cfg.device.clone(),
        })
    }

    pub fn source_rate(&self) -> u32 {
        self.source_rate
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// A handle for flushing, draining and timing from other threads.
    pub fn control(&self) -> PlaybackControl {
        self.control.clone()
    }

    /// Queues as much of `samples` as fits without waiting; returns how many.
    pub fn write(&mut self, samples: &[i16]) -> usize {
        let (written, _) = self.producer.push_partial_slice(samples);
        if !written.is_empty() {
            self.control
                .shared
                .pushed
                .fetch_add(written.len() as u64, Ordering::AcqRel);
            self.control.waker.unpark();
        }
        written.len()
    }

    /// Queues all of `samples`, waiting for room; stops early (returning how many were
    /// queued) when `cancel` is set or the thread has stopped.
    pub fn write_blocking(&mut self, samples: &[i16], cancel: &AtomicBool) -> usize {
        let mut done = 0;
        while done < samples.len() {
            done += self.write(&samples[done..]);
            if done == samples.len()
                || cancel.load(Ordering::Acquire)
                || self.producer.is_abandoned()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        done
    }

    /// Samples waiting in the ring.
    pub fn queued(&self) -> usize {
        self.producer.buffer().capacity() - self.producer.slots()
    }

    /// See [`PlaybackControl::flush`].
    pub fn flush(&self) {
        self.control.flush()
    }

    /// See [`PlaybackControl::arm`].
    pub fn arm(&self) {
        self.control.arm()
    }

    pub fn first_write(&self) -> Option<Instant> {
        self.control.first_write()
    }

    pub fn ended_at(&self) -> Option<Instant> {
        self.control.ended_at()
    }

    pub fn is_idle(&self) -> bool {
        self.control.is_idle()
    }

    /// See [`PlaybackControl::drain`].
    pub fn drain(&self) -> Option<Instant> {
        self.control.drain()
    }

    /// See [`PlaybackControl::drain_within`].
    pub fn drain_within(&self, limit: Duration) -> Option<Instant> {
        self.control.drain_within(limit)
    }

    pub fn stats(&self) -> PlaybackStats {
        self.control.stats()
    }

    /// Stops at once (queued audio is dropped) and joins the thread.
    pub fn stop(mut self) -> PlaybackStats {
        self.join();
        self.stats()
    }

    /// Plays out what is queued, then stops; closing the device writes out what a
    /// file-backed device still buffers.
    pub fn finish(mut self) -> PlaybackStats {
        self.drain();
        self.join();
        self.stats()
    }

    fn join(&mut self) {
        self.control.shared.stop.store(true, Ordering::Release);
        self.control.waker.unpark();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl PlaybackControl {
    fn stopped(&self) -> bool {
        self.shared.state() == PlaybackState::Stopped
    }

    /// Barge-in: discards everything queued (ring, converter and the device's buffer) and
    /// returns once the playback thread has done so, within about one period.
    pub fn flush(&self) {
        let id = self.shared.flush_requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.waker.unpark();
        while self.shared.flush_done.load(Ordering::Acquire) < id && !self.stopped() {
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Makes the thread record the instant of its next write to ALSA ([`first_write`]):
    /// call it before queueing the first sample of a reply.
    ///
    /// [`first_write`]: PlaybackControl::first_write
    pub fn arm(&self) {
        self.shared.first_write_ns.store(0, Ordering::Release);
        self.shared.armed.store(true, Ordering::Release);
    }

    /// When the first write after [`arm`](PlaybackControl::arm) reached ALSA.
    pub fn first_write(&self) -> Option<Instant> {
        self.shared.instant(&self.shared.first_write_ns)
    }

    /// When the device last finished playing everything queued.
    pub fn ended_at(&self) -> Option<Instant> {
        self.shared.instant(&self.shared.ended_ns)
    }

    /// Source samples queued and not yet written to the device or flushed.
    pub fn pending(&self) -> u64 {
        let s = &self.shared;
        // Read the consumed counters first: `pushed` only grows, so this never underflows.
        let consumed = s.written.load(Ordering::Acquire) + s.flushed.load(Ordering::Acquire);
        s.pushed.load(Ordering::Acquire).saturating_sub(consumed)
    }

    /// True when nothing is queued anywhere and the device has played it all.
    pub fn is_idle(&self) -> bool {
        self.pending() == 0 && self.shared.idle.load(Ordering::Acquire)
    }

    /// Waits until everything queued has been played (including the converter's tail);
    /// returns when that happened (None if the thread stopped first). While the device is
    /// away (being reopened) this waits for it; use [`flush`](Self::flush) to give up.
    pub fn drain(&self) -> Option<Instant> {
        self.drain_until(None)
    }

    /// [`drain`](Self::drain), giving up after `limit` (a speaker that is gone or stuck):
    /// None then.
    pub fn drain_within(&self, limit: Duration) -> Option<Instant> {
        self.drain_until(Some(Instant::now() + limit))
    }

    fn drain_until(&self, deadline: Option<Instant>) -> Option<Instant> {
        let id = self.shared.drain_requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.waker.unpark();
        loop {
            if self.shared.drain_done.load(Ordering::Acquire) >= id && self.is_idle() {
                return self.ended_at();
            }
            if self.stopped() || deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn stats(&self) -> PlaybackStats {
        let s = &self.shared;
        PlaybackStats {
            written: s.written.load(Ordering::Relaxed),
            flushed: s.flushed.load(Ordering::Relaxed),
            device_frames: s.device_frames.load(Ordering::Relaxed),
            underruns: s.underruns.load(Ordering::Relaxed),
            reopens: s.device.reopens.load(Ordering::Relaxed),
            device_rate: s.device.rate.load(Ordering::Relaxed),
            device_channels: s.device.channels.load(Ordering::Relaxed),
            state: s.state(),
        }
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.join();
    }
}

fn open(cfg: &PlaybackSettings, rate: u32) -> Result<Opened, AudioError> {
    pcm::open(
        &cfg.device,
        Direction::Playback,
        rate,
        cfg.channels.max(1),
        cfg.period_ms,
        cfg.periods,
    )
}

enum StreamEnd {
    Stopped,
    Lost(alsa::Error),
}

fn run(
    mut first: Option<Opened>,
    cfg: &PlaybackSettings,
    rate: u32,
    source_rate: u32,
    mut consumer: Consumer<i16>,
    mut reference: Option<ReferenceWriter>,
    shared: &Shared,
) {
    let mut reopen = Reopen::new("playback", &cfg.device, cfg.backoff_max);
    loop {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let dev = match first.take().map_or_else(|| open(cfg, rate), Ok) {
            Ok(dev) => dev,
            Err(err) => {
                shared.set_state(PlaybackState::Reopening);
                // Flushes still work while the device is away.
                discard_if_flushed(&mut consumer, shared);
                std::thread::park_timeout(reopen.open_failed(&err));
                continue;
            }
        };
        reopen.opened(&dev, &shared.device);
        shared.set_state(PlaybackState::Running);
        match stream(
            &dev,
            cfg.paced,
            source_rate,
            &mut consumer,
            &mut reference,
            shared,
        ) {
            StreamEnd::Stopped => {
                drop(dev);
                log::debug!("playback: `{}` closed", cfg.device);
                break;
            }
            StreamEnd::Lost(e) => {
                let err = pcm::classify(&cfg.device, Direction::Playback, e);
                shared.set_state(PlaybackState::Reopening);
                std::thread::park_timeout(reopen.lost(&err));
            }
        }
    }
    shared.set_state(PlaybackState::Stopped);
}

/// Handles a pending flush without a device: empties the ring. True if there was one.
fn discard_if_flushed(consumer: &mut Consumer<i16>, shared: &Shared) -> bool {
    let requested = shared.flush_requested.load(Ordering::Acquire);
    if requested == shared.flush_done.load(Ordering::Acquire) {
        return false;
    }
    let n = consumer.slots();
    if let Ok(chunk) = consumer.read_chunk(n) {
        chunk.commit_all();
    }
    shared.flushed.fetch_add(n as u64, Ordering::Relaxed);
    shared.idle.store(true, Ordering::Release);
    shared.flush_done.store(requested, Ordering::Release);
    shared.drain_done.store(
        shared.drain_requested.load(Ordering::Acquire),
        Ordering::Release,
    );
    true
}

/// The per-period loop. Allocates only before it starts.
fn stream(
    dev: &Opened,
    paced: bool,
    source_rate: u32,
    consumer: &mut Consumer<i16>,
    reference: &mut Option<ReferenceWriter>,
    shared: &Shared,
) -> StreamEnd {
    let io = match dev.pcm.io_i16() {
        Ok(io) => io,
        Err(e) => return StreamEnd::Lost(e),
    };
    let channels = dev.channels.max(1) as usize;
    let period = dev.period_frames;
    let period_time = Duration::from_nanos(period as u64 * 1_000_000_000 / dev.rate as u64);
    // Source samples that make one device period.
    let chunk = (period as u64 * source_rate as u64).div_ceil(dev.rate as u64) as usize;
    let mut src = vec![0i16; chunk];
    let mut resampler = if dev.rate != source_rate {
        match StreamResampler::new(source_rate, dev.rate, chunk) {
            Ok(r) => Some(r),
            Err(_) => return StreamEnd::Stopped,
        }
    } else {
        None
    };
    let conv_len = resampler.as_ref().map_or(chunk, |r| r.max_output(chunk));
    let mut converted = vec![0i16; conv_len];
    let mut frames = vec![0i16; conv_len * channels];
    // Audio went to the device since the last time it played everything out.
    let mut active = false;
    // Pacing reference: when the current stretch of audio started, and the device frame
    // count then.
    let mut paced_from = (Instant::now(), 0u64);
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return StreamEnd::Stopped;
        }
        let requested = shared.flush_requested.load(Ordering::Acquire);
        if requested != shared.flush_done.load(Ordering::Acquire) {
            let _ = dev.pcm.drop();
            let _ = dev.pcm.prepare();
            if let Some(r) = resampler.as_mut() {
                r.reset();
            }
            discard_if_flushed(consumer, shared);
            if active {
                active = false;
                shared.stamp(&shared.ended_ns);
            }
            continue;
        }
        let available = consumer.slots();
        if available == 0 {
            let drain_requested = shared.drain_requested.load(Ordering::Acquire);
            let draining = drain_requested != shared.drain_done.load(Ordering::Acquire);
            // The converter's last few milliseconds are released only at a drain: an empty
            // ring mid-reply (a device that plays faster than real time) must not cut the
            // stream into separately padded pieces.
            if draining {
                if let Some(r) = resampler.as_mut().filter(|r| r.pending()) {
                    let n = r.finish(&mut converted);
                    publish(reference, dev, &converted[..n]);
                    if let Err(e) = write_frames(
                        dev,
                        &io,
                        &converted[..n],
                        &mut frames,
                        channels,
                        period_time,
                        shared,
                    ) {
                        return StreamEnd::Lost(e);
                    }
                    active = true;
                }
            }
            if !active {
                if draining {
                    shared.drain_done.store(drain_requested, Ordering::Release);
                }
                std::thread::park_timeout(period_time);
                continue;
            }
            // Let the device play out what it holds, watching for new audio and flushes.
            if dev.pcm.state() == State::Running {
                if let Ok(delay) = dev.pcm.delay() {
                    if delay > 0 {
                        let left =
                            Duration::from_nanos(delay as u64 * 1_000_000_000 / dev.rate as u64);
                        std::thread::park_timeout(left.min(period_time / 2));
                        continue;
                    }
                }
            }
            // Drain (not drop): a file-backed device writes out its buffer here.
            let _ = dev.pcm.drain();
            let _ = dev.pcm.prepare();
            active = false;
            shared.stamp(&shared.ended_ns);
            shared.idle.store(true, Ordering::Release);
            if draining {
                shared.drain_done.store(drain_requested, Ordering::Release);
            }
            continue;
        }
        if !active {
            active = true;
            shared.idle.store(false, Ordering::Release);
            paced_from = (Instant::now(), shared.device_frames.load(Ordering::Relaxed));
        }
        let n = available.min(chunk);
        let (got, _) = consumer.pop_partial_slice(&mut src[..n]);
        let n = got.len();
        let out: &[i16] = match resampler.as_mut() {
            Some(r) => {
                let m = r.process(&src[..n], &mut converted);
                &converted[..m]
            }
            None => &src[..n],
        };
        publish(reference, dev, out);
        if let Err(e) = write_frames(dev, &io, out, &mut frames, channels, period_time, shared) {
            return StreamEnd::Lost(e);
        }
        shared.written.fetch_add(n as u64, Ordering::Relaxed);
        if paced {
            let ahead = shared.device_frames.load(Ordering::Relaxed) - paced_from.1;
            let due = paced_from.0 + Duration::from_nanos(ahead * 1_000_000_000 / dev.rate as u64);
            loop {
                let now = Instant::now();
                if now >= due
                    || shared.stop.load(Ordering::Acquire)
                    || shared.flush_requested.load(Ordering::Acquire)
                        != shared.flush_done.load(Ordering::Acquire)
                {
                    break;
                }
                std::thread::park_timeout(due - now);
            }
        }
    }
}

/// Hands the echo canceller what is about to be written, stamped with when it will be
/// heard: now plus what the device still holds ahead of it.
fn publish(reference: &mut Option<ReferenceWriter>, dev: &Opened, samples: &[i16]) {
    let Some(reference) = reference.as_mut() else {
        return;
    };
    let queued = match dev.pcm.state() {
        State::Running => dev.pcm.delay().unwrap_or(0).max(0) as u64,
        _ => 0,
    };
    let at = Instant::now() + Duration::from_nanos(queued * 1_000_000_000 / dev.rate as u64);
    reference.publish(at, dev.rate, samples);
}

/// Writes mono `samples` to the device as `channels`-channel frames, recovering underruns.
fn write_frames(
    dev: &Opened,
    io: &alsa::pcm::IO<i16>,
    samples: &[i16],
    frames: &mut [i16],
    channels: usize,
    period_time: Duration,
    shared: &Shared,
) -> Result<(), alsa::Error> {
    let data: &[i16] = if channels == 1 {
        samples
    } else {
        for (frame, &s) in frames.chunks_exact_mut(channels).zip(samples) {
            frame.fill(s);
        }
        &frames[..samples.len() * channels]
    };
    let mut offset = 0;
    while offset < data.len() {
        match io.writei(&data[offset..]) {
            Ok(n) => {
                if shared.armed.swap(false, Ordering::AcqRel) {
                    shared.stamp(&shared.first_write_ns);
                }
                offset += n * channels;
                shared.device_frames.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.errno() == libc::EAGAIN => {
                // The buffer is full: wait a little, but notice a flush or stop.
                if shared.stop.load(Ordering::Acquire)
                    || shared.flush_requested.load(Ordering::Acquire)
                        != shared.flush_done.load(Ordering::Acquire)
                {
                    return Ok(());
                }
                pcm::wait(&dev.pcm, period_time);
            }
            Err(e) if e.errno() == libc::EPIPE || e.errno() == libc::ESTRPIPE => {
                shared.underruns.fetch_add(1, Ordering::Relaxed);
                dev.pcm.try_recover(e, true)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
