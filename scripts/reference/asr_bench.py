#!/usr/bin/env python3
"""sherpa-onnx Python package timings for scripts/bench-asr (same models, files and feeding).

Usage: asr_bench.py MODELS_DIR THREADS REPEATS WAV...   prints one JSON line per model:
  {"model","threads","audio_s","decode_s","rtf","lag_ms"}
Whisper: each file decoded whole (lag_ms = mean decode time of one utterance, which is what a
VAD segment's end waits for). Streaming: 80 ms frames as hearken feeds them, 0.5 s of zero
padding and input_finished (lag_ms = mean time of that final flush).
"""
import json
import sys
import time

import numpy as np
import sherpa_onnx
import soundfile as sf

models, threads, repeats, wavs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
audio = [sf.read(w, dtype="float32")[0] for w in wavs]
audio_s = sum(len(a) for a in audio) / 16000 * repeats

d = f"{models}/asr-whisper-tiny.en"
off = sherpa_onnx.OfflineRecognizer.from_whisper(
    encoder=f"{d}/tiny.en-encoder.int8.onnx", decoder=f"{d}/tiny.en-decoder.int8.onnx",
    tokens=f"{d}/tiny.en-tokens.txt", language="en", task="transcribe", num_threads=threads)
d, n = f"{models}/asr-streaming-zipformer-random", "random-small-chunk-16-left-128.int8.onnx"
on = sherpa_onnx.OnlineRecognizer.from_transducer(
    tokens=f"{d}/tokens.txt", encoder=f"{d}/encoder-{n}", decoder=f"{d}/decoder-{n}",
    joiner=f"{d}/joiner-{n}", num_threads=threads, sample_rate=16000, feature_dim=80,
    decoding_method="greedy_search", enable_endpoint_detection=True,
    rule1_min_trailing_silence=2.4, rule2_min_trailing_silence=1.2, rule3_min_utterance_length=20)


def whisper(a):
    s = off.create_stream()
    s.accept_waveform(16000, a)
    off.decode_stream(s)
    return s.result.text


def streaming(a):
    s = on.create_stream()
    for i in range(0, len(a), 1280):
        s.accept_waveform(16000, a[i : i + 1280])
        while on.is_ready(s):
            on.decode_stream(s)
        on.get_result(s)
        if on.is_endpoint(s):
            on.reset(s)
    t = time.perf_counter()
    s.accept_waveform(16000, np.zeros(8000, dtype=np.float32))
    s.input_finished()
    while on.is_ready(s):
        on.decode_stream(s)
    on.get_result(s)
    return time.perf_counter() - t


for name, run in (("asr-whisper-tiny.en", whisper), ("asr-streaming-zipformer-random", streaming)):
    run(audio[0])  # warm-up
    lags = []
    t0 = time.perf_counter()
    for _ in range(repeats):
        for a in audio:
            t = time.perf_counter()
            r = run(a)
            lags.append(r if name.startswith("asr-streaming") else time.perf_counter() - t)
    total = time.perf_counter() - t0
    print(json.dumps({"model": name, "threads": threads, "audio_s": audio_s, "decode_s": total,
                      "rtf": total / audio_s, "lag_ms": 1e3 * sum(lags) / len(lags)}))
