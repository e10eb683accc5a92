"""Reference for scripts/bench-audio: the capture loop in Python (pyalsaaudio), reading the
same file-backed ALSA PCM with the same period, timed with the thread's CPU clock.

    python audio_capture_bench.py DEVICE FRAMES RATE PERIOD_FRAMES
prints one JSON line: audio seconds and capture-thread CPU seconds.
"""

import json
import sys
import time

import alsaaudio


def main() -> None:
    device, frames, rate, period = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    pcm = alsaaudio.PCM(
        alsaaudio.PCM_CAPTURE,
        alsaaudio.PCM_NORMAL,
        device=device,
        channels=1,
        rate=rate,
        format=alsaaudio.PCM_FORMAT_S16_LE,
        periodsize=period,
        periods=4,
    )
    ring = bytearray(16000 * 2 * 2)
    pos = 0
    got = 0
    start = time.thread_time()
    while got < frames:
        n, data = pcm.read()
        if n <= 0:
            continue
        # The same work as hearken's loop: copy into a preallocated ring.
        end = pos + len(data)
        if end <= len(ring):
            ring[pos:end] = data
        else:
            cut = len(ring) - pos
            ring[pos:] = data[:cut]
            ring[: len(data) - cut] = data[cut:]
        pos = end % len(ring)
        got += n
    cpu = time.thread_time() - start
    print(json.dumps({"audio_s": got / rate, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
