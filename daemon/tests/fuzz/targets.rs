//! The fuzz targets: each runs one of hearken's parsers of outside input on arbitrary bytes
//! and checks what must hold for every input, not only that nothing panics.

use std::path::Path;

use hearken::audio::wav;
use hearken::config::{Config, ConfigError};
use hearken::llm::{speakable, Chunker};

use super::driver::Rng;
use super::llm_stream;

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    /// Well-formed inputs to start from, besides the corpus files.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// A fresh structured input.
    pub generate: fn(&mut Rng) -> Vec<u8>,
    /// Tokens the mutator splices in.
    pub dictionary: &'static [&'static str],
    /// Inputs are cut to this many bytes.
    pub max_len: usize,
    /// An input that takes longer is a failure (`FUZZ_SLOW_MS` overrides).
    pub slow_ms: u64,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "config",
        run: config,
        seeds: config_seeds,
        generate: config_generate,
        dictionary: CONFIG_TOKENS,
        max_len: 16 * 1024,
        slow_ms: 2_000,
    },
    Target {
        name: "wav",
        run: wav,
        seeds: Vec::new,
        generate: wav_generate,
        dictionary: &[
            "RIFF",
            "WAVE",
            "fmt ",
            "data",
            "LIST",
            "fact",
            "\u{fe}\u{ff}",
        ],
        max_len: 16 * 1024,
        slow_ms: 2_000,
    },
    Target {
        name: "llm_stream",
        run: llm_stream::run,
        seeds: Vec::new,
        generate: llm_stream::generate,
        dictionary: llm_stream::TOKENS,
        max_len: 8 * 1024,
        // The client's own deadlines are 2 s.
        slow_ms: 6_000,
    },
    Target {
        name: "chunker",
        run: chunker,
        seeds: Vec::new,
        generate: text_generate,
        dictionary: TEXT_TOKENS,
        max_len: 2 * 1024,
        slow_ms: 2_000,
    },
    Target {
        name: "speakable",
        run: normaliser,
        seeds: Vec::new,
        generate: text_generate,
        dictionary: TEXT_TOKENS,
        max_len: 2 * 1024,
        slow_ms: 2_000,
    },
    Target {
        name: "phonemize",
        run: phonemize,
        seeds: Vec::new,
        generate: text_generate,
        dictionary: TEXT_TOKENS,
        max_len: 1024,
        slow_ms: 2_000,
    },
];

pub fn by_name(name: &str) -> &'static Target {
    TARGETS.iter().find(|t| t.name == name).unwrap_or_else(|| {
        let names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
        panic!("no fuzz target `{name}`; the targets are {names:?}")
    })
}

// ---- config: TOML text → Config, or an error that says where ----

const CONFIG_TOKENS: &[&str] = &[
    "[audio]\n",
    "[wake]\n",
    "[llm]\n",
    "[tts]\n",
    "[asr]\n",
    "[vad]\n",
    "[turn]\n",
    "[pipeline]\n",
    "[pipeline.earcons]\n",
    "[api]\n",
    "[hw]\n",
    "[wyoming]\n",
    "[service]\n",
    "[models]\n",
    "[[x]]\n",
    " = ",
    "\"\"",
    "'''",
    "\"\"\"",
    "[]",
    "{}",
    "{ a = 1 }",
    "true",
    "-0",
    "1e999",
    "nan",
    "-inf",
    "0x7fffffffffffffff",
    "-9223372036854775808",
    "1979-05-27",
    "07:32:00",
    "threshold",
    "sample_rate",
    "words",
    "base_url",
    "api_key",
    "thresholds",
    "period_ms",
    "ring_ms",
    "capture_device",
    "first_token_timeout_s",
    "max_tokens",
    "listen",
    "token_file",
    "volume",
    ".",
    "\\u0000",
    "\\U0010ffff",
    "#",
    "\n",
];

fn config_seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    ["hearken.toml", "dev.toml"]
        .iter()
        .map(|f| std::fs::read(root.join(f)).expect("config/*.toml"))
        .collect()
}

/// A few `key = value` lines under a known section, with values of any type.
fn config_generate(rng: &mut Rng) -> Vec<u8> {
    let sections = [
        (
            "audio",
            &["sample_rate", "period_ms", "capture_device", "ring_ms"][..],
        ),
        (
            "wake",
            &["words", "threshold", "thresholds", "refractory_ms"],
        ),
        (
            "llm",
            &[
                "base_url",
                "temperature",
                "max_tokens",
                "api_key",
                "retries",
            ],
        ),
        (
            "tts",
            &["voice", "volume", "first_chunk_words", "length_scale"],
        ),
        ("api", &["listen", "token_file", "enabled"]),
        ("wyoming", &["listen", "enabled", "name"]),
    ];
    let values = [
        "0",
        "1",
        "-1",
        "16000",
        "4294967296",
        "0.5",
        "-0.0",
        "1e40",
        "nan",
        "inf",
        "\"\"",
        "\"x\"",
        "\"日本\"",
        "[]",
        "[\"alexa\"]",
        "[1, \"a\"]",
        "{}",
        "{ alexa = 2.0 }",
        "true",
        "1979-05-27T07:32:00Z",
        "\"127.0.0.1:0\"",
        "\"[::1]:99999\"",
    ];
    let mut text = String::new();
    for _ in 0..1 + rng.below(3) {
        let (section, keys) = rng.pick(&sections);
        text.push_str(&format!("[{section}]\n"));
        for _ in 0..1 + rng.below(4) {
            text.push_str(&format!("{} = {}\n", rng.pick(keys), rng.pick(&values)));
        }
    }
    text.into_bytes()
}

fn config(data: &[u8]) {
    // A file that is not UTF-8 is refused by `read_to_string` before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    match Config::parse(text, path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                assert!(warning.starts_with("fuzz.toml: unknown key `"), "{warning}");
            }
            // Whatever loads can be written back and loads the same.
            let written = toml::to_string(&loaded.config).expect("a loaded config serializes");
            let again = Config::parse(&written, path)
                .unwrap_or_else(|e| panic!("a written-back config fails to load: {e}\n{written}"));
            assert_eq!(toml::to_string(&again.config).unwrap(), written);
        }
        Err(ConfigError::Invalid {
            line,
            column,
            message,
            ..
        }) => {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(
                (1..=lines.len()).contains(&line),
                "line {line} of {}",
                lines.len()
            );
            let width = lines[line - 1].chars().count();
            assert!(
                (1..=width + 1).contains(&column),
                "column {column} of a {width}-character line"
            );
            assert!(!message.trim().is_empty(), "an empty message");
        }
        Err(ConfigError::Value { key, message, .. }) => {
            assert!(
                !key.is_empty() && !message.trim().is_empty(),
                "{key}: {message}"
            );
        }
        Err(e @ ConfigError::Read { .. }) => panic!("parsing read a file: {e}"),
    }
}

// ---- wav: bytes → samples, or an error that names the file ----

fn wav_generate(rng: &mut Rng) -> Vec<u8> {
    let (format, bits) = rng.pick(&[
        (hound::SampleFormat::Int, 8),
        (hound::SampleFormat::Int, 16),
        (hound::SampleFormat::Int, 24),
        (hound::SampleFormat::Int, 32),
        (hound::SampleFormat::Float, 32),
    ]);
    let spec = hound::WavSpec {
        channels: 1 + rng.below(3) as u16,
        sample_rate: rng.pick(&[8_000, 16_000, 22_050, 44_100, 48_000, 1_000, 768_000, 11]),
        bits_per_sample: bits,
        sample_format: format,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).expect("WAV header");
    let frames = rng.below(200);
    for _ in 0..frames * spec.channels as usize {
        let v = rng.next();
        match format {
            hound::SampleFormat::Float => {
                writer.write_sample(f32::from_bits(v as u32) % 1.0).unwrap()
            }
            hound::SampleFormat::Int => {
                let shift = 64 - bits as u32;
                writer.write_sample(((v as i64) >> shift) as i32).unwrap()
            }
        }
    }
    writer.finalize().expect("WAV written");
    out.into_inner()
}

fn wav(data: &[u8]) {
    let path = Path::new("fuzz.wav");
    let audio = match wav::read_from(data, path) {
        Ok(audio) => audio,
        Err(e) => {
            assert!(e.to_string().contains("fuzz.wav"), "{e}");
            return;
        }
    };
    assert!(audio.sample_rate > 0 && audio.channels > 0);
    for &s in &audio.samples {
        assert!(s.is_finite(), "a sample of {s}");
    }
    let frames = audio.samples.len() / audio.channels as usize;
    let mono = audio.mono_at(16_000).expect("non-zero rates resample");
    let want = frames as f64 * 16_000.0 / audio.sample_rate as f64;
    assert!(
        (mono.len() as f64 - want).abs() <= 1.0,
        "{frames} frames at {} Hz became {} samples at 16 kHz",
        audio.sample_rate,
        mono.len()
    );
}

// ---- text: what the LLM says, on its way to espeak-ng ----

const TEXT_TOKENS: &[&str] = &[
    "```",
    "``",
    "`",
    "**",
    "__",
    "# ",
    "## ",
    "> ",
    "- ",
    "* ",
    "+ ",
    "1. ",
    "2) ",
    "\n\n",
    "[a](",
    "](",
    "![",
    "http://",
    "https://x.y/z",
    "www.",
    "e.g.",
    "i.e.",
    "etc.",
    "vs.",
    "Dr.",
    "Mr.",
    "a.m.",
    "U.S.",
    "J. ",
    "1,234",
    "5-10",
    "5–10",
    "~20",
    "°C",
    "°F",
    "&",
    "...",
    ". ",
    ", ",
    "; ",
    ": ",
    "! ",
    "? ",
    " — ",
    "\u{1}",
    "(",
    ")",
    "(en)",
    "[",
    "]",
];

/// Sentences of words, punctuation, markdown and awkward characters.
fn text_generate(rng: &mut Rng) -> Vec<u8> {
    let words = [
        "the",
        "Weather",
        "is",
        "sunny",
        "I",
        "can",
        "help",
        "42",
        "3.5",
        "Paris",
        "no",
        "St",
        "café",
        "naïve",
        "Straße",
        "日本語",
        "Привет",
        "مرحبا",
        "😀",
        "👍🏽",
        "K",
    ];
    let mut text = String::new();
    for _ in 0..rng.below(40) {
        match rng.below(10) {
            0 => text.push_str(rng.pick(TEXT_TOKENS)),
            1 => text.push_str(rng.pick(super::driver::AWKWARD_CHARS)),
            2 => text.push_str(rng.pick(&[". ", ", ", "! ", "? ", ":\n", ".\n", "\n\n"])),
            _ => {
                text.push_str(rng.pick(&words));
                text.push(' ');
            }
        }
    }
    text.into_bytes()
}

/// Deltas as the chunker gets them: the input split at U+0001.
fn deltas(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\u{1}')
        .map(str::to_string)
        .collect()
}

fn chunk(chunker: fn() -> Chunker, deltas: &[String]) -> Vec<String> {
    let mut c = chunker();
    let mut out: Vec<String> = deltas.iter().flat_map(|d| c.push(d)).collect();
    out.extend(c.finish());
    out
}

fn chunker(data: &[u8]) {
    let deltas = deltas(data);
    let whole = deltas.concat();
    let by_char: Vec<String> = whole.chars().map(String::from).collect();
    for make in [Chunker::new as fn() -> Chunker, || {
        Chunker::with_first_words(3)
    }] {
        let chunks = chunk(make, &deltas);
        // Where the server's token boundaries fall changes nothing.
        assert_eq!(
            chunks,
            chunk(make, std::slice::from_ref(&whole)),
            "one delta"
        );
        assert_eq!(chunks, chunk(make, &by_char), "one character a delta");
        for c in &chunks {
            assert_spoken_text(&whole, c);
            assert!(c.chars().any(char::is_alphanumeric), "{c:?} says nothing");
        }
        // Plain prose loses no letters to chunking (markup aside, which is removed).
        let plain = |c: char| c.is_ascii_alphanumeric() || " \n.,!?;:'".contains(c);
        if whole.chars().all(plain) {
            let letters = |s: &str| s.chars().filter(|c| c.is_alphabetic()).collect::<String>();
            assert_eq!(letters(&chunks.join(" ")), letters(&speakable(&whole)));
        }
    }
}

fn normaliser(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert_spoken_text(&text, &speakable(&text));
}

/// What `speakable` promises for `input`: single spaces between words, no markdown, emoji
/// or links.
fn assert_spoken_text(input: &str, s: &str) {
    assert_eq!(s, s.trim(), "untrimmed");
    assert!(!s.contains("  "), "{s:?} has a double space");
    assert!(
        !s.chars().any(|c| c.is_whitespace() && c != ' '),
        "{s:?} has other whitespace than spaces"
    );
    assert!(
        !s.chars().any(|c| "*_`#~|".contains(c)),
        "{s:?} keeps markup"
    );
    // A link is never spoken, unless the normaliser glued it from pieces: it removes the
    // space before punctuation, so "http\n://x" (not what an LLM writes) becomes one word.
    // Markup and emoji go too, so "www *." glues as well.
    let kept: Vec<char> = input
        .chars()
        .filter(|&c| {
            (c.is_alphanumeric() || c.is_whitespace() || c.is_ascii_punctuation())
                && !"*_`#~|".contains(c)
        })
        .collect();
    let glued = kept
        .windows(2)
        .any(|w| w[0].is_whitespace() && ".,!?;:".contains(w[1]));
    if glued {
        return;
    }
    for word in s.split(' ') {
        let bare = word
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        assert!(
            !["http://", "https://", "www."]
                .iter()
                .any(|p| bare.starts_with(p)),
            "{s:?} reads a link aloud"
        );
    }
}

// ---- phonemize: any UTF-8 through libespeak-ng ----

fn phonemize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let sentences = hearken::tts::phonemize("en-us", &text)
        .unwrap_or_else(|e| panic!("espeak-ng with voice en-us: {e}"));
    for s in &sentences {
        assert!(!s.is_empty(), "an empty sentence");
        assert!(!s.contains(&'\0'), "a NUL phoneme");
    }
}
