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
import shutil
import sys

from clips import RATE, finish, piper, write

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


def main():
    voice_path, root = sys.argv[1], sys.argv[2]
    from piper import PiperVoice
    voice = PiperVoice.load(voice_path)
    out = os.path.join(root, "daemon/tests/fixtures/loop")
    for name, text in PHRASES.items():
        audio = finish(piper(voice, text), name, SNR_DB, before_s=0.5, after_s=1.5)
        write(os.path.join(out, name + ".wav"), audio)
        print(f"{name}.wav  {len(audio) / RATE:.2f} s  {text}")
    name, dest = DEMO
    shutil.copyfile(os.path.join(out, name + ".wav"), os.path.join(root, dest))
    print(f"demo: {dest}")


if __name__ == "__main__":
    main()
