#!/usr/bin/env python3
"""piper-tts (Python) timings for one voice and text: the reference for scripts/bench-speak.

Usage: bench_piper.py VOICE.onnx RUNS TEXT
Prints JSON: audio_s, first_audio_ms, synth_s (medians over RUNS, after one warm-up).
"""
import json
import statistics
import sys
import time

from piper import PiperVoice


def main() -> None:
    voice_path, runs, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    voice = PiperVoice.load(voice_path)
    list(voice.synthesize(text))  # warm-up, as hearken's session is warm after load
    firsts, totals, audio = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        first = None
        samples = 0
        for chunk in voice.synthesize(text):
            if first is None:
                first = time.perf_counter() - start
            samples += len(chunk.audio_int16_array)
        totals.append(time.perf_counter() - start)
        firsts.append(first)
        audio.append(samples / voice.config.sample_rate)
    print(json.dumps({
        "audio_s": statistics.median(audio),
        "first_audio_ms": statistics.median(firsts) * 1000,
        "synth_s": statistics.median(totals),
    }))


if __name__ == "__main__":
    main()
