//! One turn's monotonic timestamps and the latencies derived from them.

use std::time::Instant;

use serde::Serialize;

/// The journal's MESSAGE_ID of a turn record (`journalctl MESSAGE_ID=…`).
pub const TURN_MESSAGE_ID: &str = "f84499527741429b97532fb50086d027";

/// The log target of turn records.
pub const TURN_TARGET: &str = "hearken::turn";

/// What started a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The wake word model's name and the score it fired at.
    Wake {
        word: String,
        score: f32,
    },
    PushToTalk,
    FollowUp,
}

/// Stamps of one turn, each set once, when the stage first happened.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The wake word fired, the button was pressed, or follow-up speech began.
    pub wake: Option<Instant>,
    pub speech_start: Option<Instant>,
    /// When the speech itself ended (the VAD's end sample, mapped to capture time).
    pub speech_end: Option<Instant>,
    /// When the turn was confirmed: the turn detector said complete, or the endpoint's
    /// silence passed.
    pub endpoint: Option<Instant>,
    pub asr_final: Option<Instant>,
    pub llm_request: Option<Instant>,
    pub llm_first_token: Option<Instant>,
    pub first_chunk: Option<Instant>,
    pub first_tts_audio: Option<Instant>,
    /// The first sample of the answer was written to the ALSA device.
    pub first_sample_written: Option<Instant>,
    pub playback_end: Option<Instant>,
}

impl Timeline {
    /// A speculative answer was thrown away: the turn's end and answer are yet to come.
    pub fn forget_speculation(&mut self) {
        for slot in [
            &mut self.speech_end,
            &mut self.asr_final,
            &mut self.llm_request,
            &mut self.llm_first_token,
            &mut self.first_chunk,
            &mut self.first_tts_audio,
            &mut self.first_sample_written,
        ] {
            *slot = None;
        }
    }
}

/// Sets a stamp unless it is already set.
pub fn stamp(slot: &mut Option<Instant>, at: Instant) {
    if slot.is_none() {
        *slot = Some(at);
    }
}

/// The timeline in milliseconds since the turn started, plus the derived stage latencies.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TimelineMs {
    pub wake_ms: Option<f64>,
    pub speech_start_ms: Option<f64>,
    pub speech_end_ms: Option<f64>,
    pub endpoint_ms: Option<f64>,
    pub asr_final_ms: Option<f64>,
    pub llm_request_ms: Option<f64>,
    pub llm_first_token_ms: Option<f64>,
    pub first_chunk_ms: Option<f64>,
    pub first_tts_audio_ms: Option<f64>,
    pub first_sample_written_ms: Option<f64>,
    pub playback_end_ms: Option<f64>,
    /// Speech end → turn confirmed (the endpoint's silence, or the turn detector's verdict).
    pub turn_decision_ms: Option<f64>,
    /// ASR final − endpoint (negative when the decode ran at the pause, before the turn
    /// was confirmed).
    pub asr_ms: Option<f64>,
    /// LLM first token − LLM request.
    pub llm_ms: Option<f64>,
    /// First chunk − LLM first token: the LLM finishing its first sentence.
    pub first_sentence_ms: Option<f64>,
    /// First TTS audio − first chunk.
    pub tts_ms: Option<f64>,
    /// First sample written − speech end: what the user waits.
    pub response_ms: Option<f64>,
    /// response − endpoint wait − LLM time: what hearken itself adds.
    pub pipeline_overhead_ms: Option<f64>,
}

fn between(from: Option<Instant>, to: Option<Instant>) -> Option<f64> {
    let (from, to) = (from?, to?);
    // Stamps can come from different threads in either order (a VAD end mapped back to
    // capture time): keep the sign rather than saturating.
    Some(if to >= from {
        (to - from).as_secs_f64() * 1000.0
    } else {
        -((from - to).as_secs_f64() * 1000.0)
    })
}

fn round(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 10.0).round() / 10.0)
}

impl Timeline {
    /// The earliest stamp: the reference point of the millisecond view.
    pub fn origin(&self) -> Option<Instant> {
        [self.wake, self.speech_start, self.speech_end, self.endpoint]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn pipeline_overhead_ms(&self) -> Option<f64> {
        let response = between(self.speech_end, self.first_sample_written)?;
        let turn_decision = between(self.speech_end, self.endpoint)?;
        let llm = between(self.llm_request, self.llm_first_token)?;
        Some(response - turn_decision - llm)
    }

    pub fn to_ms(&self) -> TimelineMs {
        let origin = self.origin();
        let at = |s: Option<Instant>| round(between(origin, s));
        TimelineMs {
            wake_ms: at(self.wake),
            speech_start_ms: at(self.speech_start),
            speech_end_ms: at(self.speech_end),
            endpoint_ms: at(self.endpoint),
            asr_final_ms: at(self.asr_final),
            llm_request_ms: at(self.llm_request),
            llm_first_token_ms: at(self.llm_first_token),
            first_chunk_ms: at(self.first_chunk),
            first_tts_audio_ms: at(self.first_tts_audio),
            first_sample_written_ms: at(self.first_sample_written),
            playback_end_ms: at(self.playback_end),
            turn_decision_ms: round(between(self.speech_end, self.endpoint)),
            asr_ms: round(between(self.endpoint, self.asr_final)),
            llm_ms: round(between(self.llm_request, self.llm_first_token)),
            first_sentence_ms: round(between(self.llm_first_token, self.first_chunk)),
            tts_ms: round(between(self.first_chunk, self.first_tts_audio)),
            response_ms: round(between(self.speech_end, self.first_sample_written)),
            pipeline_overhead_ms: round(self.pipeline_overhead_ms()),
        }
    }
}

/// Everything known about one finished turn: what `simulate --json` prints and the daemon
/// logs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TurnReport {
    pub turn: u64,
    /// The wake word that started the turn; `null` for the button or a follow-up.
    pub wake_word: Option<String>,
    /// The score the wake word fired at; `null` without one.
    pub wake_score: Option<f32>,
    pub trigger: &'static str,
    pub transcript: String,
    /// What was actually played of the answer (cut short on barge-in).
    pub reply: String,
    pub interrupted: bool,
    /// The LLM failed and a spoken apology was played instead.
    pub fallback: bool,
    /// Speaking the answer failed (TTS error, a stage that died): why.
    pub error: Option<String>,
    /// The turn ended without an utterance (no speech before the timeout).
    pub no_speech: bool,
    pub timeline: TimelineMs,
    /// `used`: the answer was started at the user's pause, before the turn was confirmed;
    /// `discarded`: a speculative answer was thrown away because the user went on (and
    /// the answer started after the turn was confirmed); `none`.
    pub speculation: &'static str,
    pub speculations_discarded: u32,
    /// The instant the timeline counts from (to place other events, e.g. the LEDs', on it).
    #[serde(skip)]
    pub started: Option<Instant>,
}

impl TurnReport {
    /// One line for people reading the log.
    pub fn summary(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let t = &self.timeline;
        let mut s = format!(
            "turn {} ({}){}: \"{}\" -> \"{}\" | turn decision {} asr {} llm {} tts {} response {} overhead {} ms",
            self.turn,
            self.wake_word.as_deref().unwrap_or(self.trigger),
            if self.interrupted { " interrupted" } else { "" },
            self.transcript,
            self.reply,
            ms(t.turn_decision_ms),
            ms(t.asr_ms),
            ms(t.llm_ms),
            ms(t.tts_ms),
            ms(t.response_ms),
            ms(t.pipeline_overhead_ms),
        );
        if self.no_speech {
            s.push_str(" (no speech)");
        }
        s
    }

    /// How the turn ended, in one word: `no_speech`, `error`, `interrupted`, `fallback`
    /// (the LLM failed and an apology was played) or `answered`.
    pub fn outcome(&self) -> &'static str {
        if self.no_speech {
            "no_speech"
        } else if self.error.is_some() {
            "error"
        } else if self.interrupted {
            "interrupted"
        } else if self.fallback {
            "fallback"
        } else {
            "answered"
        }
    }

    /// The structured fields of the turn's journal record, lower case (journald upper-cases
    /// them: `journalctl -u hearken HEARKEN_EVENT=turn -o json`). What was said is not
    /// among them, only its length: transcripts are logged at debug level only. Timeline
    /// stamps that did not happen are left out.
    pub fn journal_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("message_id", TURN_MESSAGE_ID.to_string()),
            ("hearken_event", "turn".to_string()),
            ("turn", self.turn.to_string()),
            ("trigger", self.trigger.to_string()),
        ];
        if let Some(word) = &self.wake_word {
            fields.push(("wake_word", word.clone()));
        }
        if let Some(score) = self.wake_score {
            fields.push(("wake_score", format!("{score:.3}")));
        }
        fields.push((
            "transcript_chars",
            self.transcript.chars().count().to_string(),
        ));
        fields.push(("reply_chars", self.reply.chars().count().to_string()));
        fields.push(("outcome", self.outcome().to_string()));
        fields.push(("speculation", self.speculation.to_string()));
        if let Some(error) = &self.error {
            fields.push(("error", error.clone()));
        }
        let t = &self.timeline;
        let stages = [
            ("wake_ms", t.wake_ms),
            ("speech_start_ms", t.speech_start_ms),
            ("speech_end_ms", t.speech_end_ms),
            ("endpoint_ms", t.endpoint_ms),
            ("asr_final_ms", t.asr_final_ms),
            ("llm_request_ms", t.llm_request_ms),
            ("llm_first_token_ms", t.llm_first_token_ms),
            ("first_chunk_ms", t.first_chunk_ms),
            ("first_tts_audio_ms", t.first_tts_audio_ms),
            ("first_sample_written_ms", t.first_sample_written_ms),
            ("playback_end_ms", t.playback_end_ms),
            ("turn_decision_ms", t.turn_decision_ms),
            ("asr_ms", t.asr_ms),
            ("llm_ms", t.llm_ms),
            ("first_sentence_ms", t.first_sentence_ms),
            ("tts_ms", t.tts_ms),
            ("response_ms", t.response_ms),
            ("pipeline_overhead_ms", t.pipeline_overhead_ms),
        ];
        for (name, value) in stages {
            if let Some(v) = value {
                fields.push((name, format!("{}", v.round() as i64)));
            }
        }
        fields
    }

    /// One line for the log that says nothing of what was said.
    pub fn log_line(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let t = &self.timeline;
        format!(
            "turn {} ({}): {} | turn decision {} asr {} llm {} tts {} response {} overhead {} ms",
            self.turn,
            self.wake_word.as_deref().unwrap_or(self.trigger),
            self.outcome(),
            ms(t.turn_decision_ms),
            ms(t.asr_ms),
            ms(t.llm_ms),
            ms(t.tts_ms),
            ms(t.response_ms),
            ms(t.pipeline_overhead_ms),
        )
    }

    /// Logs the turn: one info record (target `hearken::turn`) whose message is
    /// [`Self::log_line`] and whose key-values are [`Self::journal_fields`] (journald keeps
    /// them as MESSAGE_ID=, HEARKEN_EVENT=turn, TURN=, … fields), then what was heard and
    /// said at debug level.
    pub fn log(&self) {
        if log::log_enabled!(target: TURN_TARGET, log::Level::Info) {
            let fields = self.journal_fields();
            let kvs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let line = self.log_line();
            log::logger().log(
                &log::Record::builder()
                    .args(format_args!("{line}"))
                    .level(log::Level::Info)
                    .target(TURN_TARGET)
                    .module_path_static(Some(module_path!()))
                    .file_static(Some(file!()))
                    .line(Some(line!()))
                    .key_values(&kvs.as_slice())
                    .build(),
            );
        }
        log::debug!(target: TURN_TARGET, "{}", self.summary());
    }

    /// A few lines for a person at a terminal (`hearken simulate` without `--json`).
    pub fn pretty(&self) -> String {
        let t = &self.timeline;
        let mut s =
            format!(
            "turn {} ({}{})\n  heard:   {}\n  replied: {}\n  timeline (ms since the turn began):\n",
            self.turn,
            self.wake_word.as_deref().unwrap_or(self.trigger),
            if self.interrupted { ", interrupted" } else { "" },
            if self.transcript.is_empty() { "(nothing)" } else { &self.transcript },
            if self.reply.is_empty() { "(nothing)" } else { &self.reply },
        );
        let stamps = [
            ("wake / button", t.wake_ms),
            ("speech start", t.speech_start_ms),
            ("speech end", t.speech_end_ms),
            ("endpoint", t.endpoint_ms),
            ("ASR final", t.asr_final_ms),
            ("LLM request", t.llm_request_ms),
            ("LLM first token", t.llm_first_token_ms),
            ("first sentence", t.first_chunk_ms),
            ("first TTS audio", t.first_tts_audio_ms),
            ("first sample to ALSA", t.first_sample_written_ms),
            ("playback end", t.playback_end_ms),
        ];
        for (name, v) in stamps {
            if let Some(v) = v {
                s.push_str(&format!("    {name:<22}{v:>9.1}\n"));
            }
        }
        if let Some(v) = t.pipeline_overhead_ms {
            s.push_str(&format!("  pipeline_overhead_ms: {v:.1}\n"));
        }
        s
    }

    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("turn reports serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overhead_subtracts_turn_decision_and_llm() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let tl = Timeline {
            wake: Some(ms(0)),
            speech_start: Some(ms(100)),
            speech_end: Some(ms(2000)),
            endpoint: Some(ms(2600)),
            asr_final: Some(ms(2800)),
            llm_request: Some(ms(2810)),
            llm_first_token: Some(ms(3100)),
            first_chunk: Some(ms(3300)),
            first_tts_audio: Some(ms(3500)),
            first_sample_written: Some(ms(3520)),
            playback_end: Some(ms(6000)),
        };
        // (3520 - 2000) - 600 - 290 = 630
        let v = tl.to_ms();
        assert_eq!(v.pipeline_overhead_ms, Some(630.0));
        assert_eq!(v.turn_decision_ms, Some(600.0));
        assert_eq!(v.asr_ms, Some(200.0));
        assert_eq!(v.llm_ms, Some(290.0));
        assert_eq!(v.tts_ms, Some(200.0));
        assert_eq!(v.response_ms, Some(1520.0));
        assert_eq!(v.first_sample_written_ms, Some(3520.0));
    }

    #[test]
    fn missing_stamps_leave_gaps() {
        let t0 = Instant::now();
        let tl = Timeline {
            wake: Some(t0),
            ..Default::default()
        };
        let v = tl.to_ms();
        assert_eq!(v.wake_ms, Some(0.0));
        assert_eq!(v.pipeline_overhead_ms, None);
        let json = serde_json::to_value(&v).unwrap();
        assert!(json["pipeline_overhead_ms"].is_null());
    }

    pub(crate) fn report() -> TurnReport {
        let t0 = Instant::now();
        let ms = |m: u64| Some(t0 + Duration::from_millis(m));
        TurnReport {
            turn: 3,
            wake_word: Some("alexa".into()),
            wake_score: Some(0.97),
            trigger: "wake",
            transcript: "What is the capital of France?".into(),
            reply: "Paris.".into(),
            interrupted: false,
            fallback: false,
            error: None,
            no_speech: false,
            speculation: "none",
            speculations_discarded: 0,
            started: Some(t0),
            timeline: Timeline {
                wake: ms(0),
                speech_end: ms(2000),
                endpoint: ms(2600),
                asr_final: ms(2800),
                llm_request: ms(2810),
                llm_first_token: ms(3100),
                first_sample_written: ms(3520),
                ..Default::default()
            }
            .to_ms(),
        }
    }

    #[test]
    fn the_journal_record_has_ids_stages_and_no_words() {
        let r = report();
        let fields = r.journal_fields();
        let get = |k: &str| {
            fields
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("message_id"), Some(TURN_MESSAGE_ID));
        assert_eq!(get("hearken_event"), Some("turn"));
        assert_eq!(get("turn"), Some("3"));
        assert_eq!(get("trigger"), Some("wake"));
        assert_eq!(get("wake_word"), Some("alexa"));
        assert_eq!(get("wake_score"), Some("0.970"));
        assert_eq!(get("transcript_chars"), Some("30"));
        assert_eq!(get("reply_chars"), Some("6"));
        assert_eq!(get("outcome"), Some("answered"));
        assert_eq!(get("error"), None);
        assert_eq!(get("asr_ms"), Some("200"));
        assert_eq!(get("llm_ms"), Some("290"));
        assert_eq!(get("response_ms"), Some("1520"));
        assert_eq!(get("first_sample_written_ms"), Some("3520"));
        assert_eq!(
            get("tts_ms"),
            None,
            "stamps that did not happen are left out"
        );
        for (name, value) in &fields {
            // journald's rule for field names, once upper-cased.
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && name.starts_with(|c: char| c.is_ascii_lowercase()),
                "{name}"
            );
            assert!(!value.contains("France"), "{name}={value}");
        }
        assert!(!r.log_line().contains("France"), "{}", r.log_line());
        assert_eq!(TURN_MESSAGE_ID.len(), 32);
        assert!(TURN_MESSAGE_ID.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn outcomes() {
        let mut r = report();
        r.error = Some("the TTS thread panicked".into());
        assert_eq!(r.outcome(), "error");
        assert!(r
            .journal_fields()
            .contains(&("error", "the TTS thread panicked".to_string())));
        r.error = None;
        r.interrupted = true;
        assert_eq!(r.outcome(), "interrupted");
        r.interrupted = false;
        r.fallback = true;
        assert_eq!(r.outcome(), "fallback");
        r.no_speech = true;
        assert_eq!(r.outcome(), "no_speech");
    }

    #[test]
    fn stamps_are_set_once() {
        let t0 = Instant::now();
        let mut slot = None;
        stamp(&mut slot, t0);
        stamp(&mut slot, t0 + Duration::from_secs(1));
        assert_eq!(slot, Some(t0));
    }
}
