//! A Piper voice as distributed (`.onnx` + `.onnx.json`), run through `ort`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;

use super::{espeak, Synthesizer, TtsConfig, TtsError};
use crate::models::{ModelRef, ModelStore};

const PAD: char = '_';
const BOS: char = '^';
const EOS: char = '$';

/// PCM handed to the sink at a time (~93 ms at 22.05 kHz), so cancellation is checked often.
const SINK_SAMPLES: usize = 2048;

#[derive(Debug, Deserialize)]
struct VoiceJson {
    audio: AudioJson,
    espeak: EspeakJson,
    inference: InferenceJson,
    #[serde(default)]
    phoneme_type: Option<String>,
    #[serde(default = "one")]
    num_speakers: u32,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
struct AudioJson {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct EspeakJson {
    voice: String,
}

#[derive(Debug, Deserialize)]
struct InferenceJson {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

pub struct PiperVoice {
    session: Session,
    /// The model's first output: the audio.
    output: String,
    onnx: PathBuf,
    espeak_voice: String,
    sample_rate: u32,
    scales: [f32; 3],
    speaker_id: Option<i64>,
    id_map: HashMap<char, Vec<i64>>,
    volume: f32,
}

impl PiperVoice {
    pub fn new(cfg: &TtsConfig, store: &ModelStore) -> Result<PiperVoice, TtsError> {
        let onnx = match cfg.model_ref() {
            ModelRef::Bundle(name) => {
                let bundle = store.bundle(&name)?;
                let file = bundle
                    .files()
                    .find(|f| f.name.ends_with(".onnx"))
                    .ok_or_else(|| crate::models::ModelError::UnknownFile {
                        bundle: name.clone(),
                        file: "*.onnx".into(),
                    })?;
                store.file(&name, &file.name)?
            }
            ModelRef::Path(path) => {
                if !path.is_file() {
                    return Err(TtsError::Voice {
                        path,
                        message: "does not exist; set tts.voice to a Piper .onnx (with its .onnx.json beside it) or a bundle name".into(),
                    });
                }
                path
            }
        };
        Self::load(&onnx, cfg)
    }

    /// Loads `onnx` and the `.onnx.json` beside it.
    pub fn load(onnx: &Path, cfg: &TtsConfig) -> Result<PiperVoice, TtsError> {
        let json_path = PathBuf::from(format!("{}.json", onnx.display()));
        let json_err = |message: String| TtsError::Voice {
            path: json_path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&json_path).map_err(|e| {
            json_err(format!(
                "cannot read it: {e}; a Piper voice needs its .onnx.json beside the .onnx"
            ))
        })?;
        let json: VoiceJson = serde_json::from_str(&text)
            .map_err(|e| json_err(format!("not a Piper voice config: {e}")))?;
        if let Some(kind) = json.phoneme_type.as_deref() {
            if kind != "espeak" {
                return Err(json_err(format!(
                    "phoneme_type `{kind}` is not supported (hearken phonemizes with espeak-ng only)"
                )));
            }
        }
        if !(8_000..=192_000).contains(&json.audio.sample_rate) {
            return Err(json_err(format!(
                "audio.sample_rate = {} is not a sample rate (8000..192000 Hz)",
                json.audio.sample_rate
            )));
        }
        let mut id_map = HashMap::new();
        for (key, ids) in json.phoneme_id_map {
            let mut chars = key.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                id_map.insert(c, ids);
            }
        }
        for special in [PAD, BOS, EOS] {
            if !id_map.contains_key(&special) {
                return Err(json_err(format!("phoneme_id_map lacks `{special}`")));
            }
        }
        let speaker_id = (json.num_speakers > 1).then_some(i64::from(cfg.speaker_id));
        if cfg.speaker_id >= json.num_speakers.max(1) {
            return Err(json_err(format!(
                "tts.speaker_id = {} but the voice has {} speaker(s)",
                cfg.speaker_id, json.num_speakers
            )));
        }

        let onnx_err = |message: String| TtsError::Voice {
            path: onnx.to_owned(),
            message,
        };
        let runtime = crate::native::onnxruntime()?;
        let session = Session::builder(runtime.env())
            .and_then(|mut b| b.commit_from_file(onnx))
            .map_err(|e| onnx_err(format!("cannot load it: {e}")))?;
        let mut inputs = vec!["input", "input_lengths", "scales"];
        if speaker_id.is_some() {
            inputs.push("sid");
        }
        crate::vad::check_io(&session, &inputs, &[]).map_err(onnx_err)?;
        let output = crate::vad::first_output(&session).map_err(onnx_err)?;

        Ok(PiperVoice {
            session,
            output,
            onnx: onnx.to_owned(),
            espeak_voice: json.espeak.voice,
            sample_rate: json.audio.sample_rate,
            scales: [
                json.inference.noise_scale,
                json.inference.length_scale,
                json.inference.noise_w,
            ],
            speaker_id,
            id_map,
            volume: cfg.volume,
        })
    }

    pub fn onnx(&self) -> &Path {
        &self.onnx
    }

    /// The model's input ids for `text`, one list per sentence, as Piper builds them:
    /// BOS, PAD, then each phoneme followed by PAD, then EOS; unknown phonemes are skipped.
    pub fn phoneme_ids(&self, text: &str) -> Result<Vec<Vec<i64>>, TtsError> {
        let sentences = espeak::phonemize(&self.espeak_voice, text)?;
        Ok(sentences.iter().map(|s| self.ids(s)).collect())
    }

    fn ids(&self, phonemes: &[char]) -> Vec<i64> {
        let map = &self.id_map;
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
        ids.extend(&map[&BOS]);
        ids.extend(&map[&PAD]);
        for p in phonemes {
            if let Some(id) = map.get(p) {
                ids.extend(id);
                ids.extend(&map[&PAD]);
            } else {
                log::debug!("phoneme {p:?} is not in the voice's phoneme_id_map; skipped");
            }
        }
        ids.extend(&map[&EOS]);
        ids
    }

    /// One sentence's ids to PCM, peak-normalised like Piper's default.
    fn infer(&mut self, ids: &[i64]) -> Result<Vec<i16>, TtsError> {
        let onnx = &self.onnx;
        let fail = |message: String| TtsError::Synthesis {
            path: onnx.clone(),
            message,
        };
        let err = |e: ort::Error| fail(e.to_string());
        let n = ids.len();
        let input = Tensor::from_array(([1usize, n], ids.to_vec())).map_err(err)?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(err)?;
        let scales = Tensor::from_array(([3usize], self.scales.to_vec())).map_err(err)?;
        let mut inputs = ort::inputs! {
            "input" => input,
            "input_lengths" => lengths,
            "scales" => scales,
        };
        if let Some(sid) = self.speaker_id {
            let sid = Tensor::from_array(([1usize], vec![sid])).map_err(err)?;
            inputs.push(("sid".into(), sid.into()));
        }
        let outputs = self.session.run(inputs).map_err(err)?;
        let (_, audio) = crate::vad::output(&outputs, &self.output)
            .map_err(fail)?
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let peak = audio.iter().fold(0f32, |m, x| m.max(x.abs()));
        let gain = if peak < 1e-8 || !peak.is_finite() {
            0.0
        } else {
            self.volume / peak
        };
        Ok(audio
            .iter()
            .map(|x| ((x * gain).clamp(-1.0, 1.0) * 32767.0) as i16)
            .collect())
    }
}

impl Synthesizer for PiperVoice {
    fn set_volume(&mut self, volume: f32) {
        self.volume = volume;
    }

    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(
        &mut self,
        text: &str,
        sink: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), TtsError> {
        for ids in self.phoneme_ids(text)? {
            let pcm = self.infer(&ids)?;
            for piece in pcm.chunks(SINK_SAMPLES) {
                if !sink(piece) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
