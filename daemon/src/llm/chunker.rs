//! Turns streamed text deltas into speakable chunks: the first at the first clause boundary
//! (so speech starts early), later ones by sentence; markdown, code, emoji and URLs removed.

/// Words the first chunk needs before a clause boundary (comma, colon, ...) may end it;
/// a lone "Well," makes a choppy start.
const FIRST_CLAUSE_MIN_WORDS: usize = 2;

/// Past this many characters a sentence is also cut at a clause boundary, so a long
/// run-on sentence does not hold speech back.
const LONG_SENTENCE_CHARS: usize = 120;

/// Abbreviations whose period does not end a sentence (lower-cased, without the final ".").
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "mt", "no",
    "approx", "fig", "inc", "ltd", "co", "a.m", "p.m", "u.s", "u.k",
];

#[derive(Debug, Default)]
pub struct Chunker {
    /// Text not yet emitted (outside code fences).
    pending: String,
    /// Raw tail that may be the start of a code fence.
    in_code: bool,
    fence_tail: String,
    emitted: usize,
    /// The first chunk ends after this many words at the latest (0: at its first clause).
    first_words: usize,
}

impl Chunker {
    pub fn new() -> Chunker {
        Chunker::default()
    }

    /// A chunker whose first chunk is the first clause or the first `words` words,
    /// whichever ends first (`[tts] first_chunk_words`): the first synthesis is short, so
    /// the answer starts sooner.
    pub fn with_first_words(words: usize) -> Chunker {
        Chunker {
            first_words: words,
            ..Chunker::default()
        }
    }

    /// Feeds one delta; returns the chunks it completed, ready for TTS.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        let mut raw = std::mem::take(&mut self.fence_tail);
        raw.push_str(delta);
        let mut out = Vec::new();
        loop {
            if self.in_code {
                match raw.find("```") {
                    Some(i) => {
                        raw.drain(..i + 3);
                        self.in_code = false;
                    }
                    None => {
                        self.fence_tail = backtick_tail(&raw);
                        return out;
                    }
                }
            } else {
                match raw.find("```") {
                    Some(i) => {
                        self.pending.push_str(&raw[..i]);
                        raw.drain(..i + 3);
                        // Code is not read aloud: what came before it is a chunk of its own.
                        self.split(&mut out, true);
                        self.in_code = true;
                    }
                    None => {
                        let tail = backtick_tail(&raw);
                        self.pending.push_str(&raw[..raw.len() - tail.len()]);
                        self.fence_tail = tail;
                        self.split(&mut out, false);
                        return out;
                    }
                }
            }
        }
    }

    /// The rest, at the end of the answer.
    pub fn finish(&mut self) -> Option<String> {
        if !self.in_code {
            let tail = std::mem::take(&mut self.fence_tail);
            self.pending.push_str(&tail);
        }
        let mut out = Vec::new();
        self.split(&mut out, true);
        self.in_code = false;
        self.fence_tail.clear();
        (!out.is_empty()).then(|| out.join(" "))
    }

    /// Cuts complete chunks off `pending`; with `flush`, the remainder too.
    fn split(&mut self, out: &mut Vec<String>, flush: bool) {
        while let Some(end) = self.boundary() {
            let chunk: String = self.pending.drain(..end).collect();
            self.emit(out, &chunk);
        }
        if flush {
            let rest = std::mem::take(&mut self.pending);
            self.emit(out, &rest);
        }
    }

    fn emit(&mut self, out: &mut Vec<String>, raw: &str) {
        let text = speakable(raw);
        if text.chars().any(char::is_alphanumeric) {
            self.emitted += 1;
            out.push(text);
        }
    }

    /// Byte offset just past the first boundary in `pending` that is certain (the character
    /// after the punctuation has arrived).
    fn boundary(&self) -> Option<usize> {
        let s = &self.pending;
        let chars: Vec<(usize, char)> = s.char_indices().collect();
        let mut words = 0;
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, n)| n);
            if c == '\n' && next == Some('\n') {
                return Some(i + 1);
            }
            if c == '\n' && s[..i].trim_end().ends_with(['.', '!', '?', ':']) {
                return Some(i + 1);
            }
            let Some(next) = next else { break };
            if !next.is_whitespace() {
                continue;
            }
            let end = i + c.len_utf8();
            match c {
                '.' if is_abbreviation(&s[..i]) || is_list_number(&s[..i]) => {}
                '.' | '!' | '?' => return Some(end),
                ',' | ';' | ':' | '—'
                    if i >= LONG_SENTENCE_CHARS
                        || (self.emitted == 0
                            && speakable(&s[..i]).split_whitespace().count()
                                >= FIRST_CLAUSE_MIN_WORDS) =>
                {
                    return Some(end)
                }
                _ => {}
            }
            if !c.is_whitespace() {
                words += 1;
                if self.emitted == 0 && self.first_words > 0 && words >= self.first_words {
                    return Some(end);
                }
            }
        }
        None
    }
}

/// "2." at the start of a line numbers a list item; it ends nothing.
fn is_list_number(before: &str) -> bool {
    let line = before.rsplit('\n').next().unwrap_or("").trim();
    !line.is_empty() && line.chars().all(|c| c.is_ascii_digit())
}

/// Trailing backticks that may grow into a fence with the next delta.
fn backtick_tail(raw: &str) -> String {
    let n = raw.len() - raw.trim_end_matches('`').len();
    raw[raw.len() - n.min(2)..].to_string()
}

fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_lowercase();
    // A single capital letter ("J. Smith") is an initial.
    ABBREVIATIONS.contains(&word.as_str())
        || (word.len() == 1 && before.ends_with(char::is_uppercase))
}

/// Text as it should be spoken: markdown, URLs and emoji removed, symbols and abbreviations
/// written out so espeak-ng reads them naturally.
pub fn speakable(raw: &str) -> String {
    let mut lines = Vec::new();
    for line in raw.lines() {
        lines.push(strip_line_markup(line));
    }
    let text = lines.join(" ");
    let text = strip_links(&text);
    let mut words = Vec::new();
    for word in text.split_whitespace() {
        if is_link(word) {
            continue;
        }
        // Written-out symbols can set a link apart: "a&https://x" → "a and https://x".
        let spoken = spoken_word(word);
        words.extend(
            spoken
                .split_whitespace()
                .filter(|w| !is_link(w))
                .map(str::to_string),
        );
    }
    let text = words.join(" ");
    let text: String = text
        .chars()
        .filter(|&c| !is_emoji(c) && !is_markup(c))
        .collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Removed emoji or links can leave "all ." behind.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '.' | ',' | '!' | '?' | ';' | ':') && out.ends_with(' ') {
            out.pop();
        }
        out.push(c);
    }
    out
}

/// A URL, also in bold, quotes or brackets (`**https://…**`, `(www.…`) or with emoji in it
/// (removed later, they would join its parts): spoken aloud it is letters and slashes.
fn is_link(word: &str) -> bool {
    let bare: String = word
        .chars()
        .filter(|&c| !is_markup(c) && !is_emoji(c))
        .collect();
    let bare = bare
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    bare.starts_with("http://") || bare.starts_with("https://") || bare.starts_with("www.")
}

fn is_markup(c: char) -> bool {
    matches!(c, '*' | '_' | '`' | '#' | '~' | '|')
}

/// Headings, quotes and list bullets at the start of a line.
fn strip_line_markup(line: &str) -> String {
    let mut l = line.trim_start();
    l = l
        .trim_start_matches('#')
        .trim_start_matches('>')
        .trim_start();
    if let Some(rest) = l
        .strip_prefix("- ")
        .or_else(|| l.strip_prefix("* "))
        .or_else(|| l.strip_prefix("+ "))
    {
        l = rest;
    }
    // "1. " / "2) " list numbers are read as "one." otherwise.
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && (l[digits..].starts_with(". ") || l[digits..].starts_with(") ")) {
        l = &l[digits + 2..];
    }
    l.to_string()
}

/// `[text](url)` → `text`; `![alt](url)` → `alt`.
fn strip_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else {
            break;
        };
        out.push_str(rest[..open].trim_end_matches('!'));
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// One whitespace-separated word, with symbols espeak-ng misreads or skips written out.
fn spoken_word(word: &str) -> String {
    // Split before lower-casing: lower case can be shorter or longer ("K" KELVIN SIGN is
    // three bytes, "k" one), so offsets into the lower-cased word do not fit `word`.
    let bare = word.trim_end_matches([',', ';', ':', '!', '?']);
    let punct = &word[bare.len()..];
    let replaced = match bare.to_lowercase().as_str() {
        "e.g." | "e.g" => Some("for example"),
        "i.e." | "i.e" => Some("that is"),
        "etc." => Some("et cetera"),
        "vs." | "vs" => Some("versus"),
        "&" => Some("and"),
        "+" => Some("plus"),
        "=" => Some("equals"),
        "~" => Some("about"),
        _ => None,
    };
    if let Some(r) = replaced {
        return format!("{r}{punct}");
    }
    let mut w = word.to_string();
    for (sym, spoken) in [
        ("°C", " degrees Celsius"),
        ("°F", " degrees Fahrenheit"),
        ("°", " degrees"),
        ("&", " and "),
    ] {
        w = w.replace(sym, spoken);
    }
    numbers_readable(&w)
}

/// "1,234" → "1234" (espeak-ng would pause at the comma), "5-10" → "5 to 10",
/// "~20" → "about 20".
fn numbers_readable(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let digit_before = prev.is_some_and(|p| p.is_ascii_digit());
        let digit_after = next.is_some_and(|n| n.is_ascii_digit());
        match c {
            ',' if digit_before
                && digit_after
                && chars[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .count()
                    == 3 => {}
            '-' | '–' if digit_before && digit_after => out.push_str(" to "),
            '~' if digit_after => out.push_str("about "),
            _ => out.push(c),
        }
    }
    out
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE00..=0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(deltas: &[&str]) -> Vec<String> {
        let mut c = Chunker::new();
        let mut out: Vec<String> = deltas.iter().flat_map(|d| c.push(d)).collect();
        out.extend(c.finish());
        out
    }

    /// Feeds `text` one character at a time, as a worst-case stream.
    fn chunks_by_char(text: &str) -> Vec<String> {
        let deltas: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = deltas.iter().map(String::as_str).collect();
        chunks(&refs)
    }

    #[test]
    fn first_chunk_at_clause_then_sentences() {
        assert_eq!(
            chunks_by_char("The weather today is sunny, with a high of 20 degrees. Tomorrow, rain. Bring a coat!"),
            ["The weather today is sunny,", "with a high of 20 degrees.", "Tomorrow, rain.", "Bring a coat!"]
        );
    }

    #[test]
    fn first_chunk_leaves_before_the_sentence_ends() {
        let mut c = Chunker::new();
        let mut got = Vec::new();
        for d in ["Sure thing", ",", " I can help with that", " right away."] {
            got.push(c.push(d));
        }
        assert!(got[0].is_empty());
        assert!(
            got[1].is_empty(),
            "boundary is certain only once the space arrives"
        );
        assert_eq!(got[2], ["Sure thing,"]);
    }

    #[test]
    fn does_not_split_abbreviations_or_decimals() {
        assert_eq!(
            chunks_by_char("Dr. Smith measured 3.5 litres, e.g. in a jug. Done."),
            [
                "Doctor Smith measured 3.5 litres,",
                "for example in a jug.",
                "Done."
            ]
            .map(|s| s.replace("Doctor", "Dr."))
        );
    }

    #[test]
    fn strips_markdown_code_emoji_and_urls() {
        let text = "## Answer\n**Bold** and _soft_ 😀 see https://example.com/x or [the docs](https://d.example).\n```rust\nfn main() {}\n```\nThat's all 👍.";
        assert_eq!(
            chunks_by_char(text),
            ["Answer Bold and soft see or the docs.", "That's all."]
        );
    }

    #[test]
    fn lists_become_sentences() {
        assert_eq!(
            chunks(&["Steps:\n1. Open the door.\n2. Walk in.\n- Sit down"]),
            ["Steps:", "Open the door.", "Walk in.", "Sit down"]
        );
    }

    #[test]
    fn long_sentences_are_cut_at_clauses() {
        let long = format!(
            "Fine. {}, and then it ended.",
            "word ".repeat(30).trim_end()
        );
        let got = chunks_by_char(&long);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[2], "and then it ended.");
    }

    /// Found by fuzzing: letters whose lower case is shorter (KELVIN SIGN, OHM SIGN)
    /// made the trailing punctuation's offset fall inside a character, and speaking panicked.
    #[test]
    fn letters_that_shrink_in_lower_case_keep_their_punctuation() {
        assert_eq!(
            speakable("\u{212A}\u{212A}é, \u{2126}!"),
            "\u{212A}\u{212A}é, \u{2126}!"
        );
        assert_eq!(speakable("\u{212A}e.g.,"), "\u{212A}e.g.,");
    }

    /// Found by fuzzing: a link behind markup or an invisible character was read out.
    #[test]
    fn links_in_bold_brackets_or_after_a_zero_width_space_are_not_read() {
        assert_eq!(
            speakable("See **https://example.com** (www.example.com) or \u{200B}http://x.y, ww👍w.x.y, a&https://x.y now."),
            "See or a and now."
        );
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(
            speakable("It costs $1,250 for 5-10 days at ~20°C & 50%."),
            "It costs $1250 for 5 to 10 days at about 20 degrees Celsius and 50%."
        );
    }

    #[test]
    fn the_first_chunk_can_end_after_a_few_words() {
        let mut c = Chunker::with_first_words(3);
        let mut out = c.push("The capital of France is Paris. It is ");
        out.extend(c.push("large, and old. "));
        out.extend(c.finish());
        assert_eq!(
            out,
            [
                "The capital of",
                "France is Paris.",
                "It is large, and old."
            ]
        );
        // A clause that ends first still ends the first chunk.
        let mut c = Chunker::with_first_words(5);
        assert_eq!(c.push("It is four. Yes. "), ["It is four.", "Yes."]);
        let mut c = Chunker::with_first_words(5);
        assert_eq!(
            c.push("Well now, two plus two is four. "),
            ["Well now,", "two plus two is four."]
        );
    }
}
