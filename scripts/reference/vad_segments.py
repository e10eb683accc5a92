#!/usr/bin/env python3
"""Reference Silero VAD segments for hearken's VAD tests.

Speech probabilities come from silero_vad.onnx driven with onnxruntime exactly as
silero-vad's OnnxWrapper does it (512-sample windows, the previous 64 samples as context,
the recurrent state carried over, the last partial window zero-padded); the segments come
from the package's own get_speech_timestamps_from_probs, which is what get_speech_timestamps
calls. torch is not installed (it is only a container for the audio there), so a stub stands
in for the two names the module touches at import time.

Usage: vad_segments.py MODEL.onnx OUT.json WAV...   (16 kHz mono 16-bit WAVs)
Parameters are hearken's [vad] defaults: threshold 0.5, min speech 250 ms, min silence
600 ms, padding 30 ms.
"""
import importlib.util
import json
import os
import sys
import types
import wave

import numpy as np
import onnxruntime

THRESHOLD, MIN_SPEECH_MS, MIN_SILENCE_MS, PAD_MS = 0.5, 250, 600, 30


def silero_utils():
    torch = types.ModuleType("torch")
    torch.no_grad = lambda: (lambda f: f)
    torch.is_tensor = lambda x: False
    torch.Tensor = object
    torch.device = lambda name: name
    sys.modules.setdefault("torch", torch)
    package = importlib.util.find_spec("silero_vad")
    path = os.path.join(os.path.dirname(package.origin), "utils_vad.py")
    spec = importlib.util.spec_from_file_location("silero_utils_vad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def probabilities(session, audio):
    opts_state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, 64), dtype=np.float32)
    probs = []
    for start in range(0, len(audio), 512):
        chunk = audio[start:start + 512]
        if len(chunk) < 512:
            chunk = np.pad(chunk, (0, 512 - len(chunk)))
        x = np.concatenate([context, chunk[None, :]], axis=1).astype(np.float32)
        out, opts_state = session.run(None, {"input": x, "state": opts_state,
                                             "sr": np.array(16000, dtype=np.int64)})
        context = x[:, -64:]
        probs.append(float(out[0][0]))
    return probs


def main():
    model, out_path, wavs = sys.argv[1], sys.argv[2], sys.argv[3:]
    utils = silero_utils()
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, sess_options=opts,
                                           providers=["CPUExecutionProvider"])
    result = {}
    for path in wavs:
        audio = read_wav(path).astype(np.float32) / 32768.0
        probs = probabilities(session, audio)
        speeches = utils.get_speech_timestamps_from_probs(
            probs, sampling_rate=16000, threshold=THRESHOLD,
            min_speech_duration_ms=MIN_SPEECH_MS, min_silence_duration_ms=MIN_SILENCE_MS,
            speech_pad_ms=PAD_MS, audio_length_samples=len(audio))
        result[os.path.basename(path)] = [[s["start"], s["end"]] for s in speeches]
    with open(out_path, "w") as f:
        json.dump({"sample_rate": 16000, "threshold": THRESHOLD, "min_speech_ms": MIN_SPEECH_MS,
                   "min_silence_ms": MIN_SILENCE_MS, "speech_pad_ms": PAD_MS,
                   "segments": result}, f, indent=None)


if __name__ == "__main__":
    main()
