"""Rendering test recordings: Piper and espeak-ng speech at 16 kHz mono, trimmed, padded
with silence and mixed with white noise at a given SNR. Shared by make_wake_clips.py and
make_loop_fixtures.py so that every fixture is made the same way.

Needs: numpy, scipy; piper-tts==1.8.0 for piper(); the espeak-ng program for espeak().
"""
import io
import os
import subprocess
import wave
import zlib

import numpy as np
from scipy.signal import resample_poly

RATE = 16000


def to_16k(audio, rate):
    """int16 samples at `rate` -> float64 in [-1, 1) at 16 kHz."""
    audio = audio.astype(np.float64) / 32768.0
    if rate != RATE:
        g = np.gcd(rate, RATE)
        audio = resample_poly(audio, RATE // g, rate // g)
    return audio


def trim(audio, floor=1e-3):
    loud = np.nonzero(np.abs(audio) > floor)[0]
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio


def piper(voice, text, length_scale=None, deterministic=False):
    """Speech by a loaded piper.PiperVoice. `deterministic` turns Piper's sampling noise off,
    so that a re-run renders the same samples."""
    from piper import SynthesisConfig
    config = SynthesisConfig(length_scale=length_scale)
    if deterministic:
        config.noise_scale = 0.0
        config.noise_w_scale = 0.0
    chunks = list(voice.synthesize(text, syn_config=config))
    audio = np.concatenate([c.audio_int16_array for c in chunks])
    return to_16k(audio, chunks[0].sample_rate)


def espeak(voice, wpm, text):
    """Speech by the espeak-ng program: `voice` as for -v, `wpm` words per minute."""
    wav_bytes = subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text],
                               check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return to_16k(audio, rate)


def finish(speech, name, snr_db, before_s=1.0, after_s=1.0):
    """Trimmed speech at -6 dBFS peak between silences, as int16. With `snr_db`, white noise
    is mixed in that far below the speech (speech RMS over the spoken part), seeded by
    `name` so that each clip has its own noise and a re-run makes the same one."""
    speech = trim(speech)
    speech = 0.5 * speech / np.max(np.abs(speech))
    clean = np.concatenate([np.zeros(int(before_s * RATE)), speech, np.zeros(int(after_s * RATE))])
    if snr_db is None:
        return np.round(clean * 32767).astype(np.int16)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    noise = rng.standard_normal(len(clean))
    speech_rms = np.sqrt(np.mean(speech ** 2))
    noise *= speech_rms / (10 ** (snr_db / 20)) / np.sqrt(np.mean(noise ** 2))
    mixed = np.clip(clean + noise, -1.0, 32767 / 32768)
    return np.round(mixed * 32768).astype(np.int16)


def write(path, audio):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(audio.tobytes())
