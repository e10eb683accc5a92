#!/usr/bin/env python3
"""Generates the conversation loop's recordings: the demo `make run` plays and the phrases
the end-to-end tests assemble into conversations (daemon/tests/fixtures/loop).

Each phrase is spoken by the Piper voice en_US-joe-medium (piper-tts 1.8.0), resampled to
16 kHz mono, trimmed, normalised to -6 dBFS peak, given 0.5 s of silence before and 1.5 s
after, and mixed with white noise 30 dB below the speech (fixed seed per phrase), so the
VAD and the wake word see a plausible room rather than digital silence.

Usage: make_loop_fixtures.py PIPER_VOICE.onnx REPO_ROOT
Needs: numpy, scipy, piper-tts==1.8.0 (scripts/reference/requirements-loop.txt).
"""
import os
import sys
import wave
import zlib

import numpy as np
from scipy.signal import resample_poly

RATE = 16000
SNR_DB = 30.0
PHRASES = {
    "alexa_capital": "Alexa, what is the capital of France?",
    "germany": "And what about Germany?",
    "alexa_story": "Alexa, tell me a long story about a brave little dragon.",
    "alexa_sum": "Alexa, what is two plus two?",
    "alexa_colour": "Alexa, what colour is the sky?",
}
# `make run` plays this one (scripts/demo).
DEMO = ("alexa_capital", "scripts/demo-conversation.wav")


def piper(voice, text):
    chunks = list(voice.synthesize(text))
    audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float64) / 32768.0
    rate = chunks[0].sample_rate
    g = np.gcd(rate, RATE)
    return resample_poly(audio, RATE // g, rate // g)


def trim(audio, floor=1e-3):
    loud = np.nonzero(np.abs(audio) > floor)[0]
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio


def finish(speech, name):
    speech = trim(speech)
    speech = 0.5 * speech / np.max(np.abs(speech))
    clean = np.concatenate([np.zeros(RATE // 2), speech, np.zeros(RATE * 3 // 2)])
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    noise = rng.standard_normal(len(clean))
    speech_rms = np.sqrt(np.mean(speech ** 2))
    noise *= speech_rms / (10 ** (SNR_DB / 20)) / np.sqrt(np.mean(noise ** 2))
    mixed = np.clip(clean + noise, -1.0, 32767 / 32768)
    return np.round(mixed * 32768).astype(np.int16)


def write(path, audio):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(audio.tobytes())


def main():
    voice_path, root = sys.argv[1], sys.argv[2]
    from piper import PiperVoice
    voice = PiperVoice.load(voice_path)
    out = os.path.join(root, "daemon/tests/fixtures/loop")
    for name, text in PHRASES.items():
        audio = finish(piper(voice, text), name)
        write(os.path.join(out, name + ".wav"), audio)
        print(f"{name}.wav  {len(audio) / RATE:.2f} s  {text}")
    name, dest = DEMO
    with wave.open(os.path.join(out, name + ".wav")) as w:
        frames = w.readframes(w.getnframes())
    with wave.open(os.path.join(root, dest), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)
    print(f"demo: {dest}")


if __name__ == "__main__":
    main()
