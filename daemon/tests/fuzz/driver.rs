//! A small mutational fuzzer on the stable toolchain: no coverage feedback, but structured
//! generators per target, a dictionary of tokens and characters that have broken text code
//! before, and stacked byte mutations. Every panic, slow input or fatal signal leaves its
//! input in the output folder, ready to become a regression file in `corpus/<target>/`.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::targets::Target;

/// xorshift64*: enough randomness for mutations, and reproducible from `FUZZ_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Characters whose case mappings change length, that combine, join, reorder or are not
/// characters at all: the usual suspects for byte-offset bugs in text code.
pub const AWKWARD_CHARS: &[&str] = &[
    "\u{212A}", // KELVIN SIGN: 3 bytes, lower-cases to 1
    "\u{1E9E}", // CAPITAL SHARP S: 3 bytes, lower-cases to 2
    "\u{0130}", // I WITH DOT: lower-cases to 2 characters
    "\u{023A}", // 2 bytes, lower-cases to 3
    "\u{2126}", // OHM SIGN
    "\u{0301}",
    "\u{0308}",
    "\u{200D}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{202E}",
    "\u{2028}",
    "\u{0085}",
    "\u{00A0}",
    "\u{3000}",
    "\u{FE0F}",
    "\u{20E3}",
    "\u{1F600}",
    "\u{1F44D}",
    "\u{1F1FA}\u{1F1F8}",
    "\u{10FFFF}",
    "\u{FFFD}",
    "\0",
    "\r",
    "\t",
    "\n",
    "\u{7}",
    "é",
    "ß",
    "ﬁ",
    "ǅ",
    "Σ",
    "日本",
    "안녕",
    "ا",
    "°",
    "–",
    "—",
    "…",
    "’",
    "“",
    "«",
];

pub struct Report {
    pub execs: u64,
    pub elapsed: Duration,
    /// Distinct failures (panic location or slow) and one saved input for each.
    pub failures: BTreeMap<String, PathBuf>,
    pub slow: u64,
}

/// Where the input being run lives, for the fatal-signal handler.
static CURRENT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_LEN: AtomicUsize = AtomicUsize::new(0);
/// NUL-terminated path the signal handler writes the input to.
static SIGNAL_FILE: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    // Only async-signal-safe calls: open, write, close, signal, raise.
    let path = SIGNAL_FILE.load(Ordering::SeqCst);
    let data = CURRENT.load(Ordering::SeqCst);
    if !path.is_null() && !data.is_null() {
        unsafe {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                libc::write(fd, data.cast(), CURRENT_LEN.load(Ordering::SeqCst));
                libc::close(fd);
            }
        }
    }
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn catch_fatal_signals(file: &Path) {
    let c = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).expect("path");
    SIGNAL_FILE.store(c.into_raw(), Ordering::SeqCst);
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGABRT,
        libc::SIGFPE,
        libc::SIGILL,
    ] {
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as usize;
            action.sa_flags = libc::SA_ONSTACK;
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Where the last panic happened (`file:line`) and what it said.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

fn hash(data: &[u8]) -> u64 {
    // FNV-1a: stable names for saved inputs.
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Runs `target` on one input; `Err` carries the panic's location and message.
pub fn run_one(target: &Target, data: &[u8]) -> Result<(), (String, String)> {
    CURRENT_LEN.store(data.len(), Ordering::SeqCst);
    CURRENT.store(data.as_ptr().cast_mut(), Ordering::SeqCst);
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(data)));
    CURRENT.store(std::ptr::null_mut(), Ordering::SeqCst);
    result.map_err(|payload| {
        LAST_PANIC
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                ("?".into(), message)
            })
    })
}

/// Panics are expected here: record them quietly instead of printing each one.
pub fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map_or("?".into(), |l| format!("{}:{}", l.file(), l.line()));
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, message));
    }));
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>, pool: &[Vec<u8>], target: &Target) {
    let rounds = 1 + rng.below(6);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                data.insert(
                    i,
                    rng.pick(b"\0\n\r .,!?:;\"'`*#[](){}=-_\\/<>~|&%0123456789"),
                );
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                data.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let copy = data[a..b].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            5 | 6 if !target.dictionary.is_empty() => {
                let token = rng.pick(target.dictionary).as_bytes();
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            7 => {
                let token = rng.pick(AWKWARD_CHARS).as_bytes();
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            8 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(256)).min(other.len());
                    let at = rng.below(len + 1);
                    data.splice(at..at, other[a..b].iter().copied());
                }
            }
            9 if len > 0 => {
                // Interesting numbers for binary headers.
                let i = rng.below(len);
                let v: u32 = rng.pick(&[0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0xffff, 0xffff_ffff]);
                for (k, b) in v.to_le_bytes().iter().enumerate() {
                    if i + k < len {
                        data[i + k] = *b;
                    }
                }
            }
            10 if len > 1 => {
                let keep = rng.below(len);
                data.truncate(keep);
            }
            _ => {}
        }
    }
    data.truncate(target.max_len);
}

/// Fuzzes `target` for `budget`, saving failing inputs under `out/<target>/`.
pub fn fuzz(target: &Target, budget: Duration, seed: u64, out: &Path) -> Report {
    let dir = out.join(target.name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    catch_fatal_signals(&dir.join("crash-fatal-signal"));
    quiet_panics();
    let slow_after = Duration::from_millis(
        std::env::var("FUZZ_SLOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(target.slow_ms),
    );
    // A hung input never returns: a watchdog saves it and ends the process.
    let started_exec = Arc::new(Mutex::new(None::<(Instant, Vec<u8>)>));
    {
        let started_exec = Arc::clone(&started_exec);
        let file = dir.join("hang");
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            let guard = started_exec.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, data)) = guard.as_ref() {
                if at.elapsed() > Duration::from_secs(120) {
                    let _ = std::fs::write(&file, data);
                    eprintln!("fuzz: one input ran for 2 min; saved as {}", file.display());
                    std::process::exit(3);
                }
            }
        });
    }

    let mut rng = Rng::new(seed);
    let mut pool: Vec<Vec<u8>> = super::corpus_files(target.name)
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect();
    pool.extend((target.seeds)());
    // The seeds stay; survivors of mutation take turns in the slots after them.
    let seeds = pool.len();
    let mut report = Report {
        execs: 0,
        elapsed: Duration::ZERO,
        failures: BTreeMap::new(),
        slow: 0,
    };
    let start = Instant::now();
    while start.elapsed() < budget {
        let mut data = if pool.is_empty() || rng.chance(4) {
            (target.generate)(&mut rng)
        } else {
            pool[rng.below(pool.len())].clone()
        };
        if !rng.chance(8) {
            mutate(&mut rng, &mut data, &pool, target);
        }
        *started_exec.lock().unwrap() = Some((Instant::now(), data.clone()));
        let t0 = Instant::now();
        let result = run_one(target, &data);
        let took = t0.elapsed();
        *started_exec.lock().unwrap() = None;
        report.execs += 1;
        let failure = match result {
            Err((at, message)) => Some((at, message)),
            Ok(()) if took > slow_after => {
                report.slow += 1;
                Some(("slow".into(), format!("took {took:?}")))
            }
            Ok(()) => None,
        };
        if let Some((at, message)) = failure {
            if let Entry::Vacant(slot) = report.failures.entry(at) {
                let file = dir.join(format!("crash-{:016x}", hash(&data)));
                std::fs::write(&file, &data).expect("save the failing input");
                let first = message.lines().next().unwrap_or("");
                eprintln!(
                    "fuzz {}: new failure at {}: {first}",
                    target.name,
                    slot.key()
                );
                eprintln!("  input saved as {}", file.display());
                slot.insert(file);
            }
        } else if pool.len() < 512 && rng.chance(64) {
            // No coverage to guide us; keeping a few survivors still compounds mutations.
            pool.push(data);
        } else if pool.len() > seeds && rng.chance(64) {
            let i = seeds + rng.below(pool.len() - seeds);
            pool[i] = data;
        }
    }
    report.elapsed = start.elapsed();
    report
}
