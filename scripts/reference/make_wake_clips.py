#!/usr/bin/env python3
"""Generates the wake-word test clips in daemon/tests/fixtures/wake/clips.

Each wake phrase is spoken by the Piper voice en_US-joe-medium (piper-tts 1.8.0, its
sampling noise off so that a re-run makes the same clips) and by six espeak-ng voices
(American, British RP and standard, Scottish, and two variants), each at two speeds,
resampled to 16 kHz mono, given 1 s of silence on both sides, and mixed with white noise at
10 dB SNR (speech RMS over the spoken part against noise RMS; a fixed seed per clip).
Nobody tuned a model or threshold on them.

espeak-ng reads "Mycroft" as /ˈmɪkɹɒft/, which is not the wake phrase; its clips are given
the name's pronunciation, /ˈmaɪkɹɒft/, in espeak-ng's phoneme notation.

Usage: make_wake_clips.py PIPER_VOICE.onnx OUT_DIR
Needs: numpy, scipy, piper-tts==1.8.0 (scripts/reference/requirements-wake-deps.txt), espeak-ng.
"""
import os
import sys

import numpy as np

from clips import RATE, espeak, finish, piper, trim, write

PHRASES = {"alexa": "Alexa.", "hey_jarvis": "Hey Jarvis.", "hey_mycroft": "Hey Mycroft."}
ESPEAK_PHRASES = {**PHRASES, "hey_mycroft": "Hey [[m'aIkr0ft]]."}
ESPEAK_VOICES = {
    "espeak-us": "en-us",
    "espeak-rp": "en-gb-x-rp",
    "espeak-f3": "en-us+f3",
    "espeak-gb": "en-gb",
    "espeak-scotland": "en-gb-scotland",
    "espeak-m3": "en-us+m3",
}
ESPEAK_SPEEDS = {"slow": 140, "fast": 190}
PIPER_SPEEDS = {"slow": 1.2, "fast": 0.85}  # piper length_scale: > 1 is slower
# The pipeline's demo utterance, a wake word followed by a question: clean (no noise), by
# the Piper voice at its natural speed and by espeak-ng's British voice.
DEMO_TEXT = "Alexa, what is the capital of France?"
SNR_DB = 10.0


def main():
    from piper import PiperVoice
    voice_path, out_dir = sys.argv[1], sys.argv[2]
    voice = PiperVoice.load(voice_path)
    say = lambda text, scale=1.0: piper(voice, text, length_scale=scale, deterministic=True)
    clips = {}
    for word, text in PHRASES.items():
        for speed, scale in PIPER_SPEEDS.items():
            clips[f"{word}__piper-joe__{speed}"] = say(text, scale)
        for vname, v in ESPEAK_VOICES.items():
            for speed, wpm in ESPEAK_SPEEDS.items():
                clips[f"{word}__{vname}__{speed}"] = espeak(v, wpm, ESPEAK_PHRASES[word])
    for name, speech in clips.items():
        write(os.path.join(out_dir, name + ".wav"), finish(speech, name, SNR_DB))
        print(name)
    demo = {"demo_alexa_capital__piper-joe__clean": say(DEMO_TEXT),
            "demo_alexa_capital__espeak-rp__clean": espeak("en-gb-x-rp", 150, DEMO_TEXT)}
    # Three utterances, 1 s then 0.4 s apart: two VAD segments (min silence 600 ms), and
    # three different words for one engine listening for all of them.
    gap = lambda s: np.zeros(int(s * RATE))
    demo["conversation__piper-joe__clean"] = np.concatenate([
        trim(say("Hey Jarvis.")), gap(1.0), trim(demo["demo_alexa_capital__piper-joe__clean"]),
        gap(0.4), trim(say("Hey Mycroft."))])
    for name, speech in demo.items():
        write(os.path.join(out_dir, name + ".wav"), finish(speech, name, None))
        print(name)


if __name__ == "__main__":
    main()
