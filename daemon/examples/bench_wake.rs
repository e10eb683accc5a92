//! Speed of the wake-word engine and the VAD per 80 ms frame, and CPU use while listening to
//! silence in real time. Run by scripts/bench-wake next to the Python reference.
//!
//! bench_wake MODELS_DIR WAV FRAMES IDLE_SECONDS
//! Prints one `key value` line per measurement.

use std::time::{Duration, Instant};

use hearken::audio::wav;
use hearken::models::{ModelStore, ModelsConfig};
use hearken::vad::{SileroVad, VadConfig, VoiceDetector};
use hearken::wake::{OpenWakeWord, WakeConfig, WakeEngine, FRAME_SAMPLES};

fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn frames(samples: &[i16], n: usize) -> impl Iterator<Item = &[i16]> {
    samples.chunks_exact(FRAME_SAMPLES).cycle().take(n)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5,
        "usage: bench_wake MODELS_DIR WAV FRAMES IDLE_SECONDS"
    );
    let store = ModelStore::new(&ModelsConfig {
        dir: args[1].clone().into(),
        ..Default::default()
    });
    let samples = wav::read_16k_i16(args[2].as_ref())?;
    let n: usize = args[3].parse()?;
    let idle_s: f64 = args[4].parse()?;

    for words in [&["alexa"][..], &["alexa", "hey_jarvis", "hey_mycroft"]] {
        let cfg = WakeConfig {
            words: words.iter().map(|w| w.to_string()).collect(),
            ..Default::default()
        };
        let mut engine = OpenWakeWord::new(&cfg, &store)?;
        for frame in frames(&samples, 10) {
            engine.process(frame)?;
        }
        let start = Instant::now();
        for frame in frames(&samples, n) {
            engine.process(frame)?;
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
        println!("wake_{}_words_ms_per_frame {ms:.4}", words.len());
    }

    let mut vad = SileroVad::new(&VadConfig::default(), &store)?;
    for frame in frames(&samples, 10) {
        vad.process(frame)?;
    }
    let start = Instant::now();
    for frame in frames(&samples, n) {
        vad.process(frame)?;
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("vad_ms_per_frame {ms:.4}");

    // Listening: one wake word and the VAD on every 80 ms of silence, paced in real time.
    if idle_s > 0.0 {
        let mut engine = OpenWakeWord::new(&WakeConfig::default(), &store)?;
        vad.reset();
        let silence = vec![0i16; FRAME_SAMPLES];
        let period = Duration::from_millis(80);
        let (wall0, cpu0) = (Instant::now(), cpu_time());
        let mut next = wall0;
        while wall0.elapsed().as_secs_f64() < idle_s {
            engine.process(&silence)?;
            vad.process(&silence)?;
            next += period;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let cpu = (cpu_time() - cpu0).as_secs_f64();
        let pct = 100.0 * cpu / wall0.elapsed().as_secs_f64();
        println!("idle_cpu_percent {pct:.2}");
    }
    Ok(())
}
