#!/usr/bin/env python3
"""Reference transcripts from the sherpa-onnx Python package (same models, same files).

Writes daemon/tests/fixtures/asr/reference.json, which the Rust tests compare against:
  whisper:   Whisper tiny.en (asr-whisper-tiny.en) over each LibriVox utterance, whole file.
  streaming: the random-weight streaming zipformer (asr-streaming-zipformer-random) over each
             utterance fed in 100 ms chunks, then 0.5 s of zeros and input_finished.
Usage: scripts/reference/asr_reference.py [MODELS_DIR] [OUT]
Needs: scripts/reference/requirements-asr.txt
"""
import glob
import json
import os
import sys

import numpy as np
import sherpa_onnx
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".hearken/models")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "daemon/tests/fixtures/asr/reference.json")
LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"


def whisper():
    d = os.path.join(MODELS, "asr-whisper-tiny.en")
    return sherpa_onnx.OfflineRecognizer.from_whisper(
        encoder=f"{d}/tiny.en-encoder.int8.onnx",
        decoder=f"{d}/tiny.en-decoder.int8.onnx",
        tokens=f"{d}/tiny.en-tokens.txt",
        language="en",
        task="transcribe",
        num_threads=1,
    )


def streaming():
    d = os.path.join(MODELS, "asr-streaming-zipformer-random")
    n = "random-small-chunk-16-left-128.int8.onnx"
    return sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=f"{d}/tokens.txt",
        encoder=f"{d}/encoder-{n}",
        decoder=f"{d}/decoder-{n}",
        joiner=f"{d}/joiner-{n}",
        num_threads=1,
        sample_rate=16000,
        feature_dim=80,
        decoding_method="greedy_search",
        enable_endpoint_detection=False,
    )


def stream_text(rec, audio):
    s = rec.create_stream()
    for i in range(0, len(audio), 1600):
        s.accept_waveform(16000, audio[i : i + 1600])
        while rec.is_ready(s):
            rec.decode_stream(s)
    s.accept_waveform(16000, np.zeros(8000, dtype=np.float32))
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_stream(s)
    return rec.get_result(s)


def main():
    wavs = sorted(glob.glob(f"{LIBRIVOX}/*.wav"))
    off, on = whisper(), streaming()
    out = {"sherpa_onnx": sherpa_onnx.__version__, "whisper": {}, "streaming": {}}
    for w in wavs:
        audio, sr = sf.read(w, dtype="float32")
        assert sr == 16000, w
        s = off.create_stream()
        s.accept_waveform(sr, audio)
        off.decode_stream(s)
        name = os.path.basename(w)
        out["whisper"][name] = s.result.text
        out["streaming"][name] = stream_text(on, audio)
        print(name, repr(out["whisper"][name]), file=sys.stderr)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
