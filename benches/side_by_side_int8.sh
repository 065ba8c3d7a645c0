#!/usr/bin/env bash
# Side by side on the same machine in one run: PyTorch's int8 kernels (x86/fbgemm quantized engine,
# benches/peers/torch_int8.py) vs tinylab's int8 engine kernels (criterion bench `int8`), on a 3x3
# convolution 32->64 on 32x32, a 1x1 convolution 64->128 on 16x16 (batch 4) and a 1024x1024 fully
# connected layer on a batch of 64; both at THREADS threads. Also prints each side's f32 time, so the
# int8 speed-up over f32 can be read for both systems. Ratio = tinylab time / PyTorch time. Prints the CPU
# model and SIMD features first, and which int8 backend tinylab detected on them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}
THREADS=${THREADS:-2}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
features=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512bw|avx512_vnni|avx_vnni' | xargs)
echo "CPU: $cpu, $(nproc) cores, features: ${features:-none of avx2 fma avx512f avx512bw avx512_vnni avx_vnni}; $THREADS threads"
torch_json=$($PY -W ignore benches/peers/torch_int8.py --threads "$THREADS" --repeat 200)
log=$(mktemp)
RAYON_NUM_THREADS=$THREADS cargo bench --quiet --bench int8 -- --warm-up-time 1 --measurement-time 3 >/dev/null 2>"$log" \
  || { cat "$log"; exit 1; }
grep '^tinylab int8 backend' "$log" || true
echo "PyTorch quantized engine: $(echo "$torch_json" | head -1 | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())["engine"])')"
$PY - "$torch_json" <<'PYEOF'
import json, sys
torch = {d["workload"]: d for d in map(json.loads, sys.argv[1].splitlines())}
def ours(group, kind, name):
    with open(f"target/criterion/{group}/{kind}/{name}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9
rows = [("conv_3x3_32to64_32x32_b4", "int8_vs_f32_conv", "3x3_32to64_32x32_b4"),
        ("conv_1x1_64to128_16x16_b4", "int8_vs_f32_conv", "1x1_64to128_16x16_b4"),
        ("fc_1024x1024_b64", "int8_vs_f32_fc", "1024x1024_b64")]
import os
print(f"{'workload':28} {'ours int8':>10} {'torch int8':>10} {'ratio':>6} {'ours f32/int8':>14} {'torch f32/int8':>15} {'portable/int8':>14}  (us)")
for name, group, bench in rows:
    qi, qf = ours(group, "int8", bench), ours(group, "f32", bench)
    t = torch[name]
    portable = f"target/criterion/{group}/int8_Portable/{bench}/new/estimates.json"
    speedup = f"{ours(group, 'int8_Portable', bench) / qi:14.2f}" if os.path.exists(portable) else f"{'-':>14}"
    print(f"{name:28} {qi*1e6:10.1f} {t['seconds']*1e6:10.1f} {qi/t['seconds']:6.2f} {qf/qi:14.2f} {t['f32_seconds']/t['seconds']:15.2f} {speedup}")
PYEOF
