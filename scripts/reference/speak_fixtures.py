#!/usr/bin/env python3
"""Phoneme ids and audio durations from piper-tts 1.8.0 for hearken's TTS tests.

Usage: scripts/reference/speak_fixtures.py VOICE.onnx OUT.json
(venv: pip install -r scripts/reference/requirements-speak.txt)
"""
import json
import sys
import wave
import io

from piper import PiperVoice

SENTENCES = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "It is twenty past three, and the weather is sunny.",
    "Turn on the kitchen lights, please!",
    "What time is it in Tokyo?",
    "I set a timer for five minutes; it will ring soon.",
    "Dr. Smith paid 3.5 dollars at 7 o'clock.",
    "Yes. No. Maybe tomorrow: we will see.",
    "hearken is listening",
]


def main() -> None:
    voice_path, out_path = sys.argv[1], sys.argv[2]
    voice = PiperVoice.load(voice_path)
    cases = []
    for text in SENTENCES:
        sentences = voice.phonemize(text)
        ids = [voice.phonemes_to_ids(p) for p in sentences]
        # noise_w makes durations random: average a few runs.
        runs = []
        for _ in range(3):
            samples = sum(len(c.audio_int16_array) for c in voice.synthesize(text))
            runs.append(samples / voice.config.sample_rate)
        cases.append(
            {
                "text": text,
                "phonemes": ["".join(p) for p in sentences],
                "ids": ids,
                "audio_s": round(sum(runs) / len(runs), 3),
            }
        )
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"generator": "piper-tts 1.8.0", "voice": voice_path.rsplit("/", 1)[-1], "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
