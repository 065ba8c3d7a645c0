#!/usr/bin/env python3
"""Independent MFCC numbers for tinylab's fixed-point front end (classical/src/data/audio/mfcc).

Reads the bundled speech clips of classical/data/kws_bundle.bin.gz (format: classical/src/data/audio/
bundle.rs), places each in a 1 s clip as tinylab's `kws::centred_clip` does (centred, zero-padded),
adds two closed-form test signals, and computes the MLPerf Tiny KWS features with librosa and scipy:

  librosa.stft(n_fft=512, hop_length=320, win_length=480, window="hann", center=False) on the clip
  with 16 zeros prepended (librosa centres the 480-sample window in the 512-point frame, so frame t
  then covers samples 320 t .. 320 t + 480 of the clip), power |X|^2, librosa.filters.mel(sr=16000,
  n_fft=512, n_mels=40, fmin=20, fmax=4000, htk=True, norm=None), ln(max(E, 2^-20)), and
  scipy.fft.dct(type=2, norm="ortho") with coefficient 0 times sqrt(2) (TensorFlow's
  mfccs_from_log_mel_spectrograms), the first 10.

Writes classical/tests/fixtures/mfcc/librosa_mfcc.json: per signal the (49, 10) MFCCs, and the mel
filterbank's non-zero weights. Run in a venv with
librosa:  python3 -m venv ~/.cache/tinylab-peers-kws && ~/.cache/tinylab-peers-kws/bin/pip install
librosa && ~/.cache/tinylab-peers-kws/bin/python benches/peers/kws_mfcc_librosa.py
"""
import gzip
import json
import struct
import sys
from pathlib import Path

import librosa
import numpy as np
import scipy
import scipy.fft

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "classical/data/kws_bundle.bin.gz"
OUT = ROOT / "classical/tests/fixtures/mfcc/librosa_mfcc.json"


def read_audio(path):
    """The `audio` section of the bundle: (class, voice, samples) per clip."""
    data = gzip.decompress(path.read_bytes())
    magic = b"TLKWS1\n"
    assert data[: len(magic)] == magic, "not a tinylab kws bundle"
    pos = len(magic)
    (n_voices,) = struct.unpack_from("<H", data, pos)
    pos += 2
    voices = []
    for _ in range(n_voices):
        (ln,) = struct.unpack_from("<B", data, pos)
        voices.append(data[pos + 1 : pos + 1 + ln].decode())
        pos += 1 + ln
    (n_clips,) = struct.unpack_from("<H", data, pos)
    pos += 2
    clips = []
    for _ in range(n_clips):
        cls, voice, n = struct.unpack_from("<BHH", data, pos)
        pos += 5
        samples = np.frombuffer(data, dtype="<i2", count=n, offset=pos).astype(np.int16)
        pos += 2 * n
        clips.append((cls, voices[voice], samples))
    return clips


def centred(samples):
    clip = np.zeros(16000, dtype=np.int16)
    n = min(len(samples), 16000)
    off = (16000 - n) // 2
    clip[off : off + n] = samples[:n]
    return clip


def mfcc(clip):
    y = np.concatenate([np.zeros(16), clip.astype(np.float64) / 32768.0])
    s = librosa.stft(y, n_fft=512, hop_length=320, win_length=480, window="hann", center=False)
    power = np.abs(s) ** 2  # (257, 49)
    fb = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0, fmax=4000.0, htk=True, norm=None,
                             dtype=np.float64)
    log_mel = np.log(np.maximum(fb @ power, 2.0 ** -20)).T  # (49, 40)
    c = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, :10]
    c[:, 0] *= np.sqrt(2.0)
    return c, log_mel, fb


def main():
    signals = []
    for cls, voice, samples in read_audio(BUNDLE):
        signals.append((f"clip{len(signals)}_class{cls}_{voice}", centred(samples)))
    n = np.arange(16000)
    # Closed-form signals, exactly representable: a square wave at 500 Hz (period 32 samples) and
    # a two-level pattern with period 5 (3.2 kHz fundamental).
    signals.append(("square_500hz", np.where((n // 16) % 2 == 0, 12000, -12000).astype(np.int16)))
    signals.append(("pattern_3200hz", np.where(n % 5 < 2, 9000, -6000).astype(np.int16)))
    out = {
        "generator": "benches/peers/kws_mfcc_librosa.py",
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "clips": [],
    }
    fb = None
    for name, clip in signals:
        c, log_mel, fb = mfcc(clip)
        out["clips"].append({"name": name, "mfcc": np.round(c, 6).tolist()})
    # The filterbank's non-zero weights as [filter, bin, weight].
    out["mel_filterbank"] = [[int(m), int(k), round(float(fb[m, k]), 12)] for m, k in zip(*np.nonzero(fb))]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, separators=(",", ":")))
    print(f"wrote {OUT} ({len(out['clips'])} signals)", file=sys.stderr)


if __name__ == "__main__":
    main()
