#!/usr/bin/env bash
# Synthesises the spoken keywords of tinylab's keyword-spotting data (classical/src/data/audio/kws.rs)
# with espeak-ng and converts them with sox. Debian packages: `apt-get install -y espeak-ng sox`.
#
#   scripts/gen_kws.sh [OUT_DIR]     (default: ${XDG_CACHE_HOME:-~/.cache}/tinylab/kws/v1)
#
# Output: OUT_DIR/<word>/<voice>_s<speed>_p<pitch>.raw, each one utterance as raw signed 16-bit
# little-endian mono PCM at 16 kHz, leading and trailing silence removed, at most 1 s long; <voice> is
# <accent>+<variant> (e.g. en-us+f3). Placing the utterance in a 1 s clip, background noise and time
# shift are done (seeded) in Rust. The run is deterministic: espeak-ng has no randomness, and sox runs
# with -D (no dither: by default it dithers its 16-bit output with a random seed, and two runs then
# differ by a few LSBs).
# OUT_DIR/MANIFEST lists the tool versions and the grid. Clips already present are kept, so an
# interrupted run can be resumed.
#
# The grid: 8 English accents x 11 voice variants (+f1..f4, +m1..m7) = 88 voices; every keyword in
# 2 speeds x 2 pitches per voice; every "unknown" word (Speech Commands' auxiliary words) once per
# voice, at a speed and pitch picked by the word's and voice's index.
#
# Licence: espeak-ng is GPL-3.0-or-later software; its output (these clips) is not covered by the GPL.
# tinylab distributes the clips it derives from this script under CC0-1.0 (see README, Data).
set -euo pipefail

OUT="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/tinylab/kws/v1}"
KEYWORDS=(yes no up down left right on off stop go)
UNKNOWN=(bed bird cat dog eight five four happy house marvin nine one seven sheila six three tree two wow zero)
ACCENTS=(en-us en-gb en-gb-scotland en-gb-x-gbclan en-gb-x-rp en-gb-x-gbcwmd en-029 en-us-nyc)
VARIANTS=(f1 f2 f3 f4 m1 m2 m3 m4 m5 m6 m7)
SPEEDS=(140 180)
PITCHES=(35 65)

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "gen_kws.sh: $tool is not on PATH (apt-get install -y espeak-ng sox)" >&2; exit 1; }
done
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# One utterance: synthesise at espeak's 22.05 kHz, resample to 16 kHz 16-bit mono, trim the silence at
# both ends (below 0.3% of full scale for 10 ms), cut to at most 1 s.
synth() { # word voice speed pitch out
    local wav="$TMP/u.wav"
    espeak-ng -v "$2" -s "$3" -p "$4" -w "$wav" "$1"
    sox -V1 -D "$wav" -r 16000 -c 1 -b 16 -e signed-integer -L -t raw "$5.tmp" \
        silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse trim 0 1
    mv "$5.tmp" "$5"
}

n=0
for w in "${KEYWORDS[@]}" "${UNKNOWN[@]}"; do mkdir -p "$OUT/$w"; done
for ai in "${!ACCENTS[@]}"; do
    for vi in "${!VARIANTS[@]}"; do
        voice="${ACCENTS[$ai]}+${VARIANTS[$vi]}"
        for w in "${KEYWORDS[@]}"; do
            for s in "${SPEEDS[@]}"; do
                for p in "${PITCHES[@]}"; do
                    f="$OUT/$w/${voice}_s${s}_p${p}.raw"
                    [ -s "$f" ] || synth "$w" "$voice" "$s" "$p" "$f"
                    n=$((n + 1))
                done
            done
        done
        for ui in "${!UNKNOWN[@]}"; do
            w="${UNKNOWN[$ui]}"
            k=$(( (ui + ai * 11 + vi) % 4 ))
            s="${SPEEDS[$((k % 2))]}"; p="${PITCHES[$((k / 2))]}"
            f="$OUT/$w/${voice}_s${s}_p${p}.raw"
            [ -s "$f" ] || synth "$w" "$voice" "$s" "$p" "$f"
            n=$((n + 1))
        done
    done
done

{
    echo "tinylab kws v1: $n utterances"
    espeak-ng --version
    sox --version
    echo "keywords: ${KEYWORDS[*]}"
    echo "unknown: ${UNKNOWN[*]}"
    echo "accents: ${ACCENTS[*]}"
    echo "variants: ${VARIANTS[*]}"
    echo "speeds: ${SPEEDS[*]}; pitches: ${PITCHES[*]}"
} > "$OUT/MANIFEST"
echo "gen_kws.sh: $n utterances in $OUT"
