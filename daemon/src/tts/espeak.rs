//! Phonemization with the system's libespeak-ng, clause by clause, the way Piper does it:
//! IPA per clause, the clause's punctuation kept as a phoneme, sentences split where espeak-ng
//! ends one.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

/// espeak-ng keeps one global voice and translator, so every call goes through this lock.
static ESPEAK: Mutex<Option<Result<(), String>>> = Mutex::new(None);

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
const ESPEAK_CHARS_UTF8: c_int = 1;
const ESPEAK_PHONEMES_IPA: c_int = 0x02;

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}

#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    #[error("libespeak-ng failed to initialise ({0}); install espeak-ng-data (apt-get install espeak-ng-data)")]
    Init(String),
    #[error("espeak-ng has no voice `{0}` (named by the Piper voice's .onnx.json); list voices with: espeak-ng --voices")]
    Voice(String),
}

/// Text to phonemes, one `Vec` of phonemes (Unicode scalar values after NFD) per sentence.
pub fn phonemize(voice: &str, text: &str) -> Result<Vec<Vec<char>>, EspeakError> {
    let mut guard = ESPEAK.lock().unwrap_or_else(|e| e.into_inner());
    let init = guard.get_or_insert_with(|| {
        // SAFETY: called once, under the lock; a null path means espeak-ng's built-in data dir.
        let rate = unsafe {
            espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                std::ptr::null(),
                ESPEAK_INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            Err(format!("espeak_Initialize returned {rate}"))
        } else {
            Ok(())
        }
    });
    init.clone().map_err(EspeakError::Init)?;

    let c_voice = CString::new(voice).map_err(|_| EspeakError::Voice(voice.into()))?;
    // SAFETY: under the lock, with a valid C string.
    if unsafe { espeak_SetVoiceByName(c_voice.as_ptr()) } != 0 {
        return Err(EspeakError::Voice(voice.into()));
    }

    // Interior NULs would end the text early; they are never speech.
    let c_text = CString::new(text.replace('\0', " ")).expect("NULs removed");
    let bytes = c_text.as_bytes();
    let base = c_text.as_ptr();
    let mut ptr: *const c_void = base.cast();

    let mut sentences = Vec::new();
    let mut sentence: Vec<char> = Vec::new();
    while !ptr.is_null() {
        let start = ptr as usize - base as usize;
        // SAFETY: `ptr` points into `c_text` (NUL-terminated, alive for the loop); espeak-ng
        // advances it past the clause it translated, or sets it to null at the end.
        let phonemes = unsafe {
            let out = espeak_TextToPhonemes(&mut ptr, ESPEAK_CHARS_UTF8, ESPEAK_PHONEMES_IPA);
            if out.is_null() {
                String::new()
            } else {
                CStr::from_ptr(out).to_string_lossy().into_owned()
            }
        };
        let end = if ptr.is_null() {
            bytes.len()
        } else {
            ptr as usize - base as usize
        };
        let mut consumed = String::from_utf8_lossy(&bytes[start.min(end)..end]).into_owned();
        if !ptr.is_null() {
            // espeak-ng reads one character of the next clause ahead (and keeps it).
            consumed.pop();
        }
        let (terminator, end_of_sentence) = clause_terminator(&consumed);

        let mut clause = strip_language_flags(&phonemes);
        if let Some(t) = terminator {
            clause.push(t);
            if !end_of_sentence {
                clause.push(' ');
            }
        }
        sentence.extend(nfd(&clause));
        if end_of_sentence {
            sentences.push(std::mem::take(&mut sentence));
        }
    }
    if !sentence.is_empty() {
        sentences.push(sentence);
    }
    sentences.retain(|s| !s.is_empty());
    Ok(sentences)
}

/// The punctuation that ended a clause, read from the text espeak-ng consumed for it
/// (libespeak-ng 1.51 has no `TextToPhonemesWithTerminator`), and whether it ends a sentence.
fn clause_terminator(consumed: &str) -> (Option<char>, bool) {
    match consumed.trim_end().chars().last() {
        Some(c @ ('.' | '?' | '!')) => (Some(c), true),
        Some(c @ (',' | ':' | ';')) => (Some(c), false),
        _ => (None, false),
    }
}

/// Drops espeak-ng's `(en)`-style language-switch marks around foreign words.
fn strip_language_flags(phonemes: &str) -> String {
    let mut out = String::with_capacity(phonemes.len());
    let mut depth = 0usize;
    for c in phonemes.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Canonical decomposition (NFD), so accents become phonemes of their own as in Piper.
fn nfd(s: &str) -> Vec<char> {
    icu_normalizer::DecomposingNormalizerBorrowed::new_nfd()
        .normalize(s)
        .chars()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_keep_punctuation_and_split_sentences() {
        let s = phonemize("en-us", "Hello world. Yes, please!").unwrap();
        let s: Vec<String> = s.iter().map(|p| p.iter().collect()).collect();
        assert_eq!(s, vec!["həlˈoʊ wˈɜːld.", "jˈɛs, plˈiːz!"]);
    }

    #[test]
    fn accents_are_decomposed() {
        assert_eq!(nfd("é"), ['e', '\u{301}']);
        assert_eq!(nfd("ə"), ['ə']);
    }

    #[test]
    fn unknown_voice_is_an_error() {
        assert!(matches!(
            phonemize("xx-nonexistent", "hi"),
            Err(EspeakError::Voice(_))
        ));
    }
}
