#!/usr/bin/env python3
"""Reference per-frame openWakeWord scores for hearken's golden wake-word tests.

Runs the openwakeword 0.5.1 package (onnx inference framework, its bundled models) over
16 kHz mono 16-bit WAVs fed in 1280-sample frames, exactly as a streaming caller would, and
writes every frame's score per word.

One deliberate change: openwakeword fills its embedding history at start-up with the
embeddings of 4 s of np.random noise, so the first ~16 frames' scores differ from run to
run. Here that history is rebuilt from a fixed noise (the LCG below, which hearken's
wake::startup_noise reproduces) so every frame is comparable.

Each word gets its own Model: with several models in one Model, predict() appends the
earlier models' scores to their history once per later model too, which shortens their
5-frame start-up zeroing (a package quirk that only touches the first 5 frames). The
features are computed the same either way.

Usage: wake_scores.py OUT.json WORDS WAV...   (WORDS: comma-separated, e.g. alexa,hey_jarvis)
"""
import json
import os
import sys
import wave

import numpy as np
import openwakeword
from openwakeword.model import Model


def startup_noise():
    state, out = 12345, []
    for _ in range(4 * 16000):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((state >> 16) % 2000 - 1000)
    return np.array(out, dtype=np.int16)


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def new_model(words):
    model = Model(wakeword_models=words, inference_framework="onnx")
    model.preprocessor.feature_buffer = model.preprocessor._get_embeddings(startup_noise())
    return model


def scores(model, audio):
    frames = []
    for start in range(0, len(audio) - 1279, 1280):
        prediction = model.predict(audio[start:start + 1280])
        frames.append({word: round(float(score), 6) for word, score in prediction.items()})
    return frames


def main():
    out_path, words, wavs = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    result = {"openwakeword": openwakeword.__version__ if hasattr(openwakeword, "__version__")
              else "0.5.1", "words": words, "frame_samples": 1280, "clips": {}}
    for path in wavs:
        audio = read_wav(path)
        clip = {}
        for word in words:
            frames = scores(new_model([word]), audio)
            clip.update({w: [f[w] for f in frames] for w in frames[0]})
        result["clips"][os.path.basename(path)] = clip
    with open(out_path, "w") as f:
        json.dump(result, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
