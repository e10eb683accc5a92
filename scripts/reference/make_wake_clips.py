#!/usr/bin/env python3
"""Generates the wake-word test clips in daemon/tests/fixtures/wake/clips.

Each wake phrase is spoken by the Piper voice en_US-joe-medium (piper-tts 1.8.0, its
sampling noise off so that a re-run makes the same clips) and by
three espeak-ng voices, each at two speeds, resampled to 16 kHz mono, given 1 s of silence
on both sides, and mixed with white noise at 10 dB SNR (speech RMS over the spoken part
against noise RMS; a fixed seed per clip). Nobody tuned a model or threshold on them.

Usage: make_wake_clips.py PIPER_VOICE.onnx OUT_DIR
Needs: numpy, scipy, piper-tts==1.8.0 (scripts/reference/requirements-wake-deps.txt), espeak-ng.
"""
import io
import os
import subprocess
import sys
import wave
import zlib

import numpy as np
from scipy.signal import resample_poly

PHRASES = {"alexa": "Alexa.", "hey_jarvis": "Hey Jarvis.", "hey_mycroft": "Hey Mycroft."}
ESPEAK_VOICES = {"espeak-us": "en-us", "espeak-rp": "en-gb-x-rp", "espeak-f3": "en-us+f3"}
ESPEAK_SPEEDS = {"slow": 140, "fast": 190}
PIPER_SPEEDS = {"slow": 1.2, "fast": 0.85}  # piper length_scale: > 1 is slower
# The pipeline's demo utterance, a wake word followed by a question: clean (no noise), by
# the Piper voice at its natural speed and by espeak-ng's British voice.
DEMO_TEXT = "Alexa, what is the capital of France?"
SNR_DB = 10.0
RATE = 16000


def to_16k(audio, rate):
    audio = audio.astype(np.float64) / 32768.0
    if rate != RATE:
        g = np.gcd(rate, RATE)
        audio = resample_poly(audio, RATE // g, rate // g)
    return audio


def trim(audio, floor=1e-3):
    loud = np.nonzero(np.abs(audio) > floor)[0]
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio


def espeak(voice, speed, text):
    wav_bytes = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                               check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return to_16k(audio, rate)


def piper(voice, length_scale, text):
    from piper import SynthesisConfig
    # Without its sampling noise Piper renders the same clip every run.
    config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(voice.synthesize(text, syn_config=config))
    audio = np.concatenate([c.audio_int16_array for c in chunks])
    return to_16k(audio, chunks[0].sample_rate)


def finish(speech, name, snr_db=SNR_DB):
    speech = trim(speech)
    speech = 0.5 * speech / np.max(np.abs(speech))
    silence = np.zeros(RATE)
    clean = np.concatenate([silence, speech, silence])
    if snr_db is None:
        return np.round(clean * 32767).astype(np.int16)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    noise = rng.standard_normal(len(clean))
    speech_rms = np.sqrt(np.mean(speech ** 2))
    noise *= speech_rms / (10 ** (snr_db / 20)) / np.sqrt(np.mean(noise ** 2))
    mixed = np.clip(clean + noise, -1.0, 32767 / 32768)
    return np.round(mixed * 32768).astype(np.int16)


def write(path, audio):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(audio.tobytes())


def main():
    from piper import PiperVoice
    voice_path, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    voice = PiperVoice.load(voice_path)
    clips = {}
    for word, text in PHRASES.items():
        for speed, scale in PIPER_SPEEDS.items():
            clips[f"{word}__piper-joe__{speed}"] = piper(voice, scale, text)
        for vname, v in ESPEAK_VOICES.items():
            for speed, wpm in ESPEAK_SPEEDS.items():
                clips[f"{word}__{vname}__{speed}"] = espeak(v, wpm, text)
    for name, speech in clips.items():
        write(os.path.join(out_dir, name + ".wav"), finish(speech, name))
        print(name)
    demo = {"demo_alexa_capital__piper-joe__clean": piper(voice, 1.0, DEMO_TEXT),
            "demo_alexa_capital__espeak-rp__clean": espeak("en-gb-x-rp", 150, DEMO_TEXT)}
    # Three utterances, 1 s then 0.4 s apart: two VAD segments (min silence 600 ms), and
    # three different words for one engine listening for all of them.
    gap = lambda s: np.zeros(int(s * RATE))
    demo["conversation__piper-joe__clean"] = np.concatenate([
        trim(piper(voice, 1.0, "Hey Jarvis.")), gap(1.0), trim(demo["demo_alexa_capital__piper-joe__clean"]),
        gap(0.4), trim(piper(voice, 1.0, "Hey Mycroft."))])
    for name, speech in demo.items():
        write(os.path.join(out_dir, name + ".wav"), finish(speech, name, snr_db=None))
        print(name)


if __name__ == "__main__":
    main()
