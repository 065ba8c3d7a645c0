#!/usr/bin/env bash
# Side by side on the same machine in one run: Qiskit Aer's density_matrix method with
# NoiseModel.from_backend (../shared/peers/bench_qiskit.py, 2 threads; its own simulation time) vs
# tinylab's density method with NoiseModel::builtin (criterion bench `noisy`, RAYON_NUM_THREADS=2,
# simulation only), on the device-basis circuits of benches/circuits/noisy_*.qasm.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}
PEERS=${PEERS:-../shared/peers}
aer=""
for pair in manila:noisy_manila_n5 nairobi:noisy_nairobi_n7 guadalupe:noisy_guadalupe_n12; do
  device=${pair%%:*}; name=${pair#*:}
  aer+=$($PY "$PEERS/bench_qiskit.py" "benches/circuits/$name.qasm" --method density_matrix --device "$device" --threads 2 --repeat 3)$'\n'
done
echo -n "$aer"
RAYON_NUM_THREADS=2 cargo bench --quiet --bench noisy -- density >/dev/null
$PY - "$aer" <<'PYEOF'
import json, sys, os
aer = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
print(f"{'circuit':26} {'tinylab s':>10} {'aer s':>10} {'ratio':>7}")
for row in aer:
    name = os.path.basename(row["file"]).removesuffix(".qasm")
    with open(f"target/criterion/density/{name}/new/estimates.json") as f:
        ours = json.load(f)["median"]["point_estimate"] * 1e-9
    print(f"{name:26} {ours:10.4f} {row['seconds_median']:10.4f} {ours / row['seconds_median']:7.2f}")
PYEOF
