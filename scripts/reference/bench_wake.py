#!/usr/bin/env python3
"""The Python side of scripts/bench-wake: openwakeword 0.5.1 (onnx) per 80 ms frame with 1 and
3 words, Silero VAD (silero_vad.onnx driven as silero-vad's OnnxWrapper does, one thread)
per 80 ms of audio, and CPU while listening to silence in real time (1 word + VAD).

Usage: bench_wake.py SILERO.onnx WAV FRAMES IDLE_SECONDS   (prints `key value` lines)
"""
import sys
import time
import wave

import numpy as np
import onnxruntime
from openwakeword.model import Model


def frames(audio, n):
    count = len(audio) // 1280
    for i in range(n):
        j = i % count
        yield audio[j * 1280:(j + 1) * 1280]


class Silero:
    def __init__(self, path):
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(path, sess_options=opts,
                                                    providers=["CPUExecutionProvider"])
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros((1, 64), dtype=np.float32)
        self.pending = np.zeros(0, dtype=np.float32)

    def process(self, frame):
        self.pending = np.concatenate([self.pending, frame.astype(np.float32) / 32768.0])
        while len(self.pending) >= 512:
            x = np.concatenate([self.context, self.pending[None, :512]], axis=1)
            _, self.state = self.session.run(None, {"input": x, "state": self.state,
                                                    "sr": np.array(16000, dtype=np.int64)})
            self.context = x[:, -64:]
            self.pending = self.pending[512:]


def main():
    silero_path, wav_path, n, idle_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with wave.open(wav_path) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    for words in (["alexa"], ["alexa", "hey_jarvis", "hey_mycroft"]):
        model = Model(wakeword_models=words, inference_framework="onnx")
        for frame in frames(audio, 10):
            model.predict(frame)
        start = time.perf_counter()
        for frame in frames(audio, n):
            model.predict(frame)
        print(f"wake_{len(words)}_words_ms_per_frame {(time.perf_counter() - start) * 1000 / n:.4f}")
    vad = Silero(silero_path)
    for frame in frames(audio, 10):
        vad.process(frame)
    start = time.perf_counter()
    for frame in frames(audio, n):
        vad.process(frame)
    print(f"vad_ms_per_frame {(time.perf_counter() - start) * 1000 / n:.4f}")
    if idle_s > 0:
        model = Model(wakeword_models=["alexa"], inference_framework="onnx")
        silence = np.zeros(1280, dtype=np.int16)
        wall0, cpu0 = time.monotonic(), time.process_time()
        nxt = wall0
        while time.monotonic() - wall0 < idle_s:
            model.predict(silence)
            vad.process(silence)
            nxt += 0.08
            time.sleep(max(0.0, nxt - time.monotonic()))
        pct = 100 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
        print(f"idle_cpu_percent {pct:.2f}")


if __name__ == "__main__":
    main()
