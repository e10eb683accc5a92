//! The capture thread: ALSA → 16 kHz mono i16 → lock-free ring.
//!
//! The per-period loop only reads, converts and pushes: every buffer is allocated when the
//! device is opened, statistics are atomics, and logging happens only when the device's
//! state changes (opened, lost, reopened), never per period or per attempt.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use alsa::Direction;
use rtrb::{Consumer, Producer, RingBuffer};

use super::pcm::{self, Opened};
use super::reopen::{DeviceInfo, Reopen};
use super::resample::StreamResampler;
use super::{AudioConfig, AudioError, Pacing, SAMPLE_RATE};

/// What the capture thread needs; [`CaptureSettings::from_config`] fills it from `[audio]`.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    pub device: String,
    /// Rate asked of the device; what it delivers is converted to 16 kHz.
    pub rate: u32,
    /// Channels asked of the device; the first one is kept.
    pub channels: u32,
    pub period_ms: u32,
    pub periods: u32,
    pub pacing: Pacing,
    /// Ring length in milliseconds of 16 kHz audio.
    pub ring_ms: u32,
    /// If the device cannot be opened, keep trying in the background (the daemon) instead
    /// of failing `start` (the CLI tools).
    pub retry_open: bool,
    /// Longest wait between reopen attempts.
    pub backoff_max: Duration,
    /// SCHED_FIFO priority the thread asks for (`audio.rt_priority`; 0 = off).
    pub rt_priority: u32,
    /// End the input after this many device frames. alsa-lib's `file` plugin reads silence
    /// past the end of its `infile`, so a file-backed input's length must come from the
    /// file ([`FileDevices::capture_settings`](super::filedev::FileDevices::capture_settings)
    /// sets it). None = endless (a real device).
    pub end_after_frames: Option<u64>,
    /// Test hook: report an overrun (-EPIPE) instead of reading every this many periods, so
    /// the real recovery path runs against the real PCM. 0 = never.
    #[doc(hidden)]
    pub inject_overrun_every: u32,
    /// Test hook: once, after this many periods, report the device gone (-EIO), so the
    /// close → backoff → reopen path runs. 0 = never.
    #[doc(hidden)]
    pub inject_lost_after: u32,
}

impl CaptureSettings {
    pub fn from_config(cfg: &AudioConfig) -> Self {
        CaptureSettings {
            device: cfg.capture_device.clone(),
            rate: cfg.sample_rate,
            channels: cfg.channels,
            period_ms: cfg.period_ms,
            periods: cfg.periods,
            pacing: cfg.capture_pacing,
            ring_ms: cfg.ring_ms,
            retry_open: true,
            backoff_max: Duration::from_millis(cfg.reopen_max_ms as u64),
            rt_priority: cfg.rt_priority,
            end_after_frames: None,
            inject_overrun_every: 0,
            inject_lost_after: 0,
        }
    }
}

/// Where the capture thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureState {
    Starting,
    Running,
    /// The device failed to open or vanished; reopening with backoff.
    Reopening,
    /// The input ended (a file-backed device reached the end of its file).
    Ended,
    /// Stopped by [`Capture::stop`] or drop.
    Stopped,
}

impl CaptureState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => CaptureState::Running,
            2 => CaptureState::Reopening,
            3 => CaptureState::Ended,
            4 => CaptureState::Stopped,
            _ => CaptureState::Starting,
        }
    }
}

/// Counters since start.
#[derive(Debug, Clone, Copy)]
pub struct CaptureStats {
    /// 16 kHz samples pushed into the ring.
    pub samples: u64,
    /// Samples lost because the ring was full (the reader fell behind).
    pub dropped: u64,
    /// ALSA overruns recovered.
    pub xruns: u64,
    /// Successful reopens after a failure.
    pub reopens: u64,
    /// Rate and channels the device agreed to (0 until opened).
    pub device_rate: u32,
    pub device_channels: u32,
    pub state: CaptureState,
    /// CPU time the capture thread used, known once it has exited (zero before).
    pub thread_cpu: Duration,
}

struct Shared {
    stop: AtomicBool,
    samples: AtomicU64,
    dropped: AtomicU64,
    xruns: AtomicU64,
    device: DeviceInfo,
    state: AtomicU8,
    thread_cpu_ns: AtomicU64,
    injected_loss: AtomicBool,
}

impl Shared {
    fn set_state(&self, s: CaptureState) {
        self.state.store(s as u8, Ordering::Release);
    }
    fn state(&self) -> CaptureState {
        CaptureState::from_u8(self.state.load(Ordering::Acquire))
    }
}

/// A running capture thread and the reading end of its ring.
pub struct Capture {
    consumer: Consumer<i16>,
    handle: CaptureHandle,
}

/// Controls and observes the capture thread; stopping or dropping it joins the thread.
pub struct CaptureHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    device: String,
}

impl Capture {
    /// Starts capturing. Without `retry_open` the device is opened here and an open failure
    /// is returned; with it, failures are retried in the background with capped backoff.
    pub fn start(cfg: &CaptureSettings) -> Result<Capture, AudioError> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            samples: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            xruns: AtomicU64::new(0),
            device: DeviceInfo::default(),
            state: AtomicU8::new(CaptureState::Starting as u8),
            thread_cpu_ns: AtomicU64::new(0),
            injected_loss: AtomicBool::new(false),
        });
        let first = if cfg.retry_open {
            None
        } else {
            Some(open(cfg)?)
        };
        let capacity = (SAMPLE_RATE as u64 * cfg.ring_ms as u64 / 1000).max(1024) as usize;
        let (producer, consumer) = RingBuffer::new(capacity);
        let thread = {
            let cfg = cfg.clone();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hearken-capture".into())
                .spawn(move || {
                    super::realtime::request(cfg.rt_priority as u8, "capture");
                    run(first, &cfg, producer, &shared);
                    shared
                        .thread_cpu_ns
                        .store(thread_cpu_ns(), Ordering::Release);
                })
        }
        .map_err(|source| AudioError::Thread {
            device: cfg.device.clone(),
            source,
        })?;
        Ok(Capture {
            consumer,
            handle: CaptureHandle {
                shared,
                thread: Some(thread),
                device: cfg.device.clone(),
            },
        })
    }

    /// The ring's reading end: 16 kHz mono i16. When the thread ends (input ended, stop)
    /// the ring is abandoned: `consumer().is_abandoned()` and then drain what is left.
    pub fn consumer(&mut self) -> &mut Consumer<i16> {
        &mut self.consumer
    }

    /// Separates the reading end from the control handle, for a reader on another thread.
    pub fn split(self) -> (Consumer<i16>, CaptureHandle) {
        (self.consumer, self.handle)
    }

    pub fn handle(&self) -> &CaptureHandle {
        &self.handle
    }

    pub fn stats(&self) -> CaptureStats {
        self.handle.stats()
    }

    /// Fills `buf` from the ring, waiting for samples; returns fewer only when the input
    /// ended (0 = nothing more will come).
    pub fn read_blocking(&mut self, buf: &mut [i16]) -> usize {
        read_blocking(&mut self.consumer, buf)
    }

    /// Stops and joins the thread; the returned stats are final.
    pub fn stop(self) -> CaptureStats {
        self.handle.stop()
    }
}

/// Fills `buf` from a capture ring, waiting until it is full or the capture thread ended.
pub fn read_blocking(consumer: &mut Consumer<i16>, buf: &mut [i16]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        let n = consumer.slots().min(buf.len() - filled);
        if n > 0 {
            let (a, _) = consumer.pop_partial_slice(&mut buf[filled..filled + n]);
            filled += a.len();
            continue;
        }
        // Checked after `slots`: samples pushed before the thread ended are still read.
        if consumer.is_abandoned() && consumer.slots() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    filled
}

/// Reads the capture thread's stats from anywhere (the API's health), without owning it.
#[derive(Clone)]
pub struct CaptureWatch(Arc<Shared>);

impl CaptureWatch {
    pub fn stats(&self) -> CaptureStats {
        let s = &self.0;
        CaptureStats {
            samples: s.samples.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            xruns: s.xruns.load(Ordering::Relaxed),
            reopens: s.device.reopens.load(Ordering::Relaxed),
            device_rate: s.device.rate.load(Ordering::Relaxed),
            device_channels: s.device.channels.load(Ordering::Relaxed),
            state: s.state(),
            thread_cpu: Duration::from_nanos(s.thread_cpu_ns.load(Ordering::Acquire)),
        }
    }
}

impl CaptureHandle {
    pub fn stats(&self) -> CaptureStats {
        self.watch().stats()
    }

    pub fn watch(&self) -> CaptureWatch {
        CaptureWatch(self.shared.clone())
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// True once the input ended (end of a file-backed device's file).
    pub fn ended(&self) -> bool {
        self.shared.state() == CaptureState::Ended
    }

    pub fn stop(mut self) -> CaptureStats {
        self.join();
        self.stats()
    }

    /// [`Self::stop`], waiting at most `limit` for the thread: one stuck inside the
    /// device (a driver that never returns from a read) is left behind, logged, so that
    /// stopping stays bounded. `None` if it was left behind.
    pub fn stop_within(mut self, limit: Duration) -> Option<CaptureStats> {
        self.shared.stop.store(true, Ordering::Release);
        let deadline = Instant::now() + limit;
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            if Instant::now() >= deadline {
                log::warn!(
                    "capture: the thread on `{}` is stuck in the device; not waiting for it",
                    self.device
                );
                // Dropping the JoinHandle detaches the thread; process exit ends it.
                self.thread = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.join();
        Some(self.stats())
    }

    fn join(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.join();
    }
}

fn open(cfg: &CaptureSettings) -> Result<Opened, AudioError> {
    pcm::open(
        &cfg.device,
        Direction::Capture,
        cfg.rate,
        cfg.channels,
        cfg.period_ms,
        cfg.periods,
    )
}

/// How one open device's stream ended.
enum StreamEnd {
    Stopped,
    Eof,
    Lost(alsa::Error),
    Abandoned,
}

fn run(
    mut first: Option<Opened>,
    cfg: &CaptureSettings,
    mut producer: Producer<i16>,
    shared: &Shared,
) {
    let mut reopen = Reopen::new("capture", &cfg.device, cfg.backoff_max);
    let mut frames_total: u64 = 0;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            shared.set_state(CaptureState::Stopped);
            return;
        }
        let dev = match first.take().map_or_else(|| open(cfg), Ok) {
            Ok(dev) => dev,
            Err(err) => {
                shared.set_state(CaptureState::Reopening);
                sleep_unless_stopped(reopen.open_failed(&err), &shared.stop);
                continue;
            }
        };
        reopen.opened(&dev, &shared.device);
        shared.set_state(CaptureState::Running);
        match stream(&dev, cfg, &mut producer, shared, &mut frames_total) {
            StreamEnd::Stopped | StreamEnd::Abandoned => {
                drop(dev);
                log::debug!("capture: `{}` closed", cfg.device);
                shared.set_state(CaptureState::Stopped);
                return;
            }
            StreamEnd::Eof => {
                drop(dev);
                log::debug!("capture: `{}` ended", cfg.device);
                shared.set_state(CaptureState::Ended);
                return;
            }
            StreamEnd::Lost(e) => {
                let err = pcm::classify(&cfg.device, Direction::Capture, e);
                shared.set_state(CaptureState::Reopening);
                drop(dev);
                sleep_unless_stopped(reopen.lost(&err), &shared.stop);
            }
        }
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
    }
}

/// The per-period loop. Allocates only before it starts.
fn stream(
    dev: &Opened,
    cfg: &CaptureSettings,
    producer: &mut Producer<i16>,
    shared: &Shared,
    frames_total: &mut u64,
) -> StreamEnd {
    let io = match dev.pcm.io_i16() {
        Ok(io) => io,
        Err(e) => return StreamEnd::Lost(e),
    };
    let channels = dev.channels.max(1) as usize;
    let period = dev.period_frames;
    let mut raw = vec![0i16; period * channels];
    let mut mono = vec![0i16; period];
    let mut resampler = if dev.rate != SAMPLE_RATE {
        match StreamResampler::new(dev.rate, SAMPLE_RATE, period) {
            Ok(r) => Some(r),
            Err(_) => return StreamEnd::Eof,
        }
    } else {
        None
    };
    let mut converted = vec![0i16; resampler.as_ref().map_or(0, |r| r.max_output(period))];
    let wait_time = Duration::from_millis(cfg.period_ms as u64 * 2);
    let started = Instant::now();
    let mut frames_read: u64 = 0;
    let mut periods: u64 = 0;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return StreamEnd::Stopped;
        }
        periods += 1;
        let result = if cfg.inject_lost_after > 0
            && periods == cfg.inject_lost_after as u64
            && !shared.injected_loss.swap(true, Ordering::Relaxed)
        {
            Err(alsa::Error::new("snd_pcm_readi", libc::EIO))
        } else if cfg.inject_overrun_every > 0 && periods % cfg.inject_overrun_every as u64 == 0 {
            Err(alsa::Error::new("snd_pcm_readi", libc::EPIPE))
        } else {
            io.readi(&mut raw)
        };
        let frames = match result {
            Ok(0) => return StreamEnd::Eof,
            Ok(n) => n,
            Err(e) if e.errno() == libc::EAGAIN => {
                pcm::wait(&dev.pcm, wait_time);
                continue;
            }
            Err(e) if e.errno() == libc::EPIPE || e.errno() == libc::ESTRPIPE => {
                shared.xruns.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = dev.pcm.try_recover(e, true) {
                    return StreamEnd::Lost(e);
                }
                continue;
            }
            Err(e) => return StreamEnd::Lost(e),
        };
        let limit = cfg.end_after_frames.unwrap_or(u64::MAX);
        let frames = frames.min(limit.saturating_sub(*frames_total) as usize);
        *frames_total += frames as u64;
        for (m, frame) in mono.iter_mut().zip(raw.chunks_exact(channels)).take(frames) {
            *m = frame[0];
        }
        let out: &[i16] = match resampler.as_mut() {
            Some(r) => {
                let n = r.process(&mono[..frames], &mut converted);
                &converted[..n]
            }
            None => &mono[..frames],
        };
        if !push(producer, out, cfg.pacing, shared) {
            return StreamEnd::Abandoned;
        }
        if *frames_total >= limit {
            if let Some(r) = resampler.as_mut() {
                let n = r.finish(&mut converted);
                push(producer, &converted[..n], cfg.pacing, shared);
            }
            return StreamEnd::Eof;
        }
        frames_read += frames as u64;
        if cfg.pacing == Pacing::Realtime {
            let due = started + Duration::from_nanos(frames_read * 1_000_000_000 / dev.rate as u64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

/// Pushes `samples`; false when the reader is gone (or, unpaced, stop was asked while
/// waiting for room).
fn push(producer: &mut Producer<i16>, samples: &[i16], pacing: Pacing, shared: &Shared) -> bool {
    let mut rest = samples;
    loop {
        let (written, left) = producer.push_partial_slice(rest);
        shared
            .samples
            .fetch_add(written.len() as u64, Ordering::Relaxed);
        rest = left;
        if rest.is_empty() {
            return true;
        }
        if producer.is_abandoned() {
            return false;
        }
        if pacing != Pacing::Unpaced {
            shared
                .dropped
                .fetch_add(rest.len() as u64, Ordering::Relaxed);
            return true;
        }
        if shared.stop.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// CPU time used by the calling thread.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
