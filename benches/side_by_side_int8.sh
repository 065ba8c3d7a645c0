#!/usr/bin/env bash
# Side by side on the same machine in one run: PyTorch's int8 kernels (x86/fbgemm quantized engine,
# benches/peers/torch_int8.py) vs tinylab's int8 engine kernels (criterion bench `int8`), on a 3x3
# convolution 32->64 on 32x32, a 1x1 convolution 64->128 on 16x16 (batch 4) and a 1024x1024 fully
# connected layer on a batch of 64; both at THREADS threads. Also prints each side's f32 time, so the
# int8 speed-up over f32 can be read for both systems. Ratio = tinylab time / PyTorch time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}
THREADS=${THREADS:-2}
torch_json=$($PY -W ignore benches/peers/torch_int8.py --threads "$THREADS" --repeat 200)
RAYON_NUM_THREADS=$THREADS cargo bench --quiet --bench int8 -- --warm-up-time 1 --measurement-time 3 >/dev/null
$PY - "$torch_json" <<'PYEOF'
import json, sys
torch = {d["workload"]: d for d in map(json.loads, sys.argv[1].splitlines())}
def ours(group, kind, name):
    with open(f"target/criterion/{group}/{kind}/{name}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9
rows = [("conv_3x3_32to64_32x32_b4", "int8_vs_f32_conv", "3x3_32to64_32x32_b4"),
        ("conv_1x1_64to128_16x16_b4", "int8_vs_f32_conv", "1x1_64to128_16x16_b4"),
        ("fc_1024x1024_b64", "int8_vs_f32_fc", "1024x1024_b64")]
print(f"{'workload':28} {'ours int8':>10} {'torch int8':>10} {'ratio':>6} {'ours f32/int8':>14} {'torch f32/int8':>15}  (us)")
for name, group, bench in rows:
    qi, qf = ours(group, "int8", bench), ours(group, "f32", bench)
    t = torch[name]
    print(f"{name:28} {qi*1e6:10.1f} {t['seconds']*1e6:10.1f} {qi/t['seconds']:6.2f} {qf/qi:14.2f} {t['f32_seconds']/t['seconds']:15.2f}")
PYEOF
