#!/usr/bin/env bash
# Side by side on the same machine in one run: PyTorch (../shared/peers/bench_torch.py, 2 threads)
# vs tinylab's criterion bench `classical` (rayon at 2 threads): sgemm 256/512/1024, one SGD step of
# the reference CNN at batch 64 (1x28x28), MobileNetV2-0.35 inference on one 3x96x96 image.
# Prints both sides and the ratios (tinylab time / PyTorch time; GFLOP/s ratio for sgemm).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}
PEERS=${PEERS:-../shared/peers}
THREADS=${THREADS:-2}
torch_json=$($PY "$PEERS/bench_torch.py" --threads "$THREADS" --repeat 50)
echo "$torch_json"
RAYON_NUM_THREADS=$THREADS cargo bench --quiet --bench classical -- --warm-up-time 1 --measurement-time 5 >/dev/null
$PY - "$torch_json" <<'PYEOF'
import json, sys
torch = {d["workload"]: d for d in map(json.loads, sys.argv[1].splitlines())}
def ours(path):
    with open(f"target/criterion/{path}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9
rows = []
for n in (256, 512, 1024):
    s = ours(f"sgemm/{n}")
    g = 2 * n ** 3 / s / 1e9
    t = torch[f"sgemm_{n}"]["gflops"]
    rows.append((f"sgemm_{n} (GFLOP/s)", g, t, g / t))
for name in ("cnn_step_b64", "mbv2_infer_b1"):
    s, t = ours(name), torch[name]["seconds"]
    rows.append((f"{name} (ms)", s * 1e3, t * 1e3, s / t))
print(f"{'workload':28} {'tinylab':>10} {'pytorch':>10} {'ratio':>7}")
for name, a, b, r in rows:
    print(f"{name:28} {a:10.3f} {b:10.3f} {r:7.2f}")
PYEOF
