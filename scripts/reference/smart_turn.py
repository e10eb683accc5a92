#!/usr/bin/env python3
"""Reference Smart Turn v3.2 probabilities for hearken's turn tests (daemon/tests/turn_smart.rs).

Runs pipecat's own LocalSmartTurnAnalyzerV3._predict_endpoint, with its own Whisper feature
code (pipecat/audio/turn/smart_turn/_whisper_features.py), on each clip as pipecat's
BaseSmartTurn hands it over: int16 samples / 32768 as float32. The model is the one the
manifest pins (its bundle, or the same file inside the wheel).

Usage: smart_turn.py MODEL.onnx OUT.json CLIP...
  CLIP is WAV[+WAV...][@SECONDS]: 16 kHz mono 16-bit WAVs (paths relative to the repo root
  or absolute), joined, and cut at SECONDS if given (an utterance stopped part-way).
  OUT.json: {"clips": {CLIP: {"probability": p, "features": [every 101st feature value]}}}
"""
import json
import sys
import wave
from pathlib import Path

import numpy as np
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
# Every FEATURE_STRIDE-th value of the (80, 800) features is kept for the test to compare.
FEATURE_STRIDE = 211


def read_wav(path):
    with wave.open(str(ROOT / path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def clip_audio(spec):
    wavs, _, seconds = spec.partition("@")
    audio = np.concatenate([read_wav(p) for p in wavs.split("+")])
    if seconds:
        audio = audio[: int(round(float(seconds) * RATE))]
    return audio


def main():
    model, out_path, clips = sys.argv[1], sys.argv[2], sys.argv[3:]
    analyzer = LocalSmartTurnAnalyzerV3(smart_turn_model_path=model, sample_rate=RATE)
    result = {}
    for spec in clips:
        audio = clip_audio(spec).astype(np.float32) / 32768.0
        probability = analyzer._predict_endpoint(audio)["probability"]
        # The same window _predict_endpoint builds: the last 8 s, zero-padded at the front.
        window = audio[-8 * RATE:]
        window = np.pad(window, (8 * RATE - len(window), 0))
        features = compute_whisper_log_mel_features(window, do_normalize=True)
        result[spec] = {
            "probability": probability,
            "features": [round(float(v), 6) for v in features.reshape(-1)[::FEATURE_STRIDE]],
        }
        print(f"{probability:.6f}  {spec}", file=sys.stderr)
    with open(out_path, "w") as f:
        lines = [f"  {json.dumps(spec)}: {json.dumps(value)}" for spec, value in result.items()]
        f.write(f'{{"feature_stride": {FEATURE_STRIDE}, "clips": {{\n' + ",\n".join(lines) + "\n}}\n")


if __name__ == "__main__":
    main()
