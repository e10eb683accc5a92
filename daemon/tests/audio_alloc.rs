//! The capture and playback loops allocate nothing: a counting global allocator sees no
//! allocation while both threads stream seconds of audio (with resampling) through
//! file-backed ALSA devices, the playback thread publishing every period to the echo
//! canceller's reference ring (read meanwhile by another thread). One test in this binary,
//! so nothing else allocates meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hearken::audio::filedev::{self, FileDevices};
use hearken::audio::{AudioConfig, Capture, Pacing, Playback};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::SeqCst)
}

#[test]
fn capture_and_playback_loops_do_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let wav = common::librivox_wavs().into_iter().next().unwrap();
    let speech = hearken::audio::wav::read_16k_i16(&wav).unwrap();
    // 30 s of device frames at 48 kHz, so capture resamples 48 kHz → 16 kHz.
    let input: Vec<i16> = speech.iter().copied().cycle().take(48_000 * 30).collect();
    let raw = dir.path().join("in.raw");
    filedev::write_raw(&raw, &input).unwrap();
    let devs = FileDevices::create(dir.path(), Some(&raw), &dir.path().join("out.raw")).unwrap();
    devs.activate();

    let mut cfg = AudioConfig {
        sample_rate: 48_000,
        capture_pacing: Pacing::Unpaced,
        ..AudioConfig::default()
    };
    let mut capture = Capture::start(&{
        let mut s = devs.capture_settings(&cfg);
        s.retry_open = false;
        s
    })
    .unwrap();
    let mut buf = vec![0i16; 16_000];
    assert_eq!(capture.read_blocking(&mut buf), buf.len());
    let before = allocations();
    for _ in 0..10 {
        assert_eq!(capture.read_blocking(&mut buf), buf.len());
    }
    let during_capture = allocations() - before;
    let stats = capture.stop();
    assert!(stats.samples >= 11 * 16_000, "{stats:?}");
    assert_eq!(
        during_capture, 0,
        "the capture loop allocated {during_capture} times"
    );

    // Playback of 16 kHz audio on a 22.05 kHz device: resampled in the thread.
    cfg.playback_rate = 22_050;
    let (writer, mut reader) = hearken::aec::reference::channel(2_000, 48_000);
    let mut playback = Playback::start_with_reference(
        &{
            let mut s = devs.playback_settings(&cfg);
            s.retry_open = false;
            s
        },
        16_000,
        Some(writer),
    )
    .unwrap();
    // The capture side's reader: its buffer is big enough for any period, so popping
    // allocates nothing either.
    let referenced = std::thread::spawn(move || {
        let mut period = Vec::with_capacity(48_000);
        let mut samples = 0u64;
        loop {
            let abandoned = reader.is_abandoned();
            match reader.pop(&mut period) {
                Some(p) => {
                    assert_eq!(p.rate, 22_050);
                    samples += period.len() as u64;
                }
                None if abandoned => return (samples, reader.dropped()),
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    let cancel = AtomicBool::new(false);
    let reply: Vec<i16> = speech.iter().copied().cycle().take(16_000 * 10).collect();
    playback.arm();
    playback.write_blocking(&reply[..16_000], &cancel);
    let deadline = Instant::now() + Duration::from_secs(10);
    while playback.stats().written == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = allocations();
    playback.write_blocking(&reply[16_000..], &cancel);
    playback.drain();
    playback.flush();
    let during_playback = allocations() - before;
    let stats = playback.finish();
    assert_eq!(stats.written, reply.len() as u64, "{stats:?}");
    assert_eq!(
        during_playback, 0,
        "the playback loop (or the reference's reader) allocated {during_playback} times"
    );
    // Everything written to the device went to the reference, nothing dropped.
    let (referenced, dropped) = referenced.join().unwrap();
    assert_eq!(dropped, 0);
    assert_eq!(referenced, stats.device_frames, "{stats:?}");
}
