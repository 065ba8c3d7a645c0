#!/usr/bin/env bash
# Side by side on the same machine in one run, 2 threads each: PennyLane lightning.qubit (adjoint) value +
# full gradient of the reference ansatz (../shared/peers/bench_pennylane.py, grad_seconds) vs tinylab's
# criterion bench `qml`, group reference_ansatz/value_grad_n{8,12,16,20}; and one TorchQuantum training step
# of the 4-qubit classifier at batch 256 (../shared/peers/bench_torchquantum.py, step_seconds) vs
# qml_digits4/train_step_b256. Peer pythons: PY (../shared/peers/setup.sh) and TQPY (setup.sh --torchquantum).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}}
TQPY=${TQPY:-$HOME/.cache/tinylab-peers-tq/bin/python}
PEERS=${PEERS:-../shared/peers}
CRITERION=${CARGO_TARGET_DIR:-target}/criterion
pl=$(OMP_NUM_THREADS=2 $PY "$PEERS/bench_pennylane.py" --qubits 8,12,16,20 --repeat 3)
echo "$pl"
tqj=$(OMP_NUM_THREADS=2 $TQPY "$PEERS/bench_torchquantum.py" --threads 2 --batch 256 | tail -n 1)
echo "$tqj"
RAYON_NUM_THREADS=2 cargo bench --quiet --bench qml >/dev/null
$PY - "$pl" "$tqj" "$CRITERION" <<'PYEOF'
import glob, json, os, sys
pl = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
tq = json.loads(sys.argv[2])
root = sys.argv[3]

def median_seconds(group, bench_id):
    """Criterion median of group/bench_id in seconds. Criterion stores it under
    <root>/<group>/<bench_id>/new/estimates.json, with characters it cannot use in paths replaced; when the
    direct path is missing, find the directory whose new/benchmark.json names this benchmark."""
    path = os.path.join(root, group, bench_id, "new", "estimates.json")
    if not os.path.exists(path):
        full = f"{group}/{bench_id}"
        for meta in glob.glob(os.path.join(root, glob.escape(group), "**", "new", "benchmark.json"), recursive=True):
            with open(meta) as f:
                m = json.load(f)
            ids = {m.get("full_id"), m.get("title"),
                   "/".join(str(p) for p in (m.get("group_id"), m.get("function_id"), m.get("value_str")) if p)}
            if full in ids:
                path = os.path.join(os.path.dirname(meta), "estimates.json")
                break
        else:
            sys.exit(f"no criterion estimates for {full} under {root}")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9

print(f"{'workload':34} {'tinylab s':>10} {'peer s':>10} {'ratio':>7}  peer")
for row in pl:
    n = row["qubits"]
    ours = median_seconds("reference_ansatz", f"value_grad_n{n}")
    peer = row["grad_seconds"]
    print(f"{f'reference_ansatz value+grad n={n}':34} {ours:10.4f} {peer:10.4f} {ours / peer:7.2f}  pennylane lightning adjoint")
ours = median_seconds("qml_digits4", "train_step_b256")
peer = tq["step_seconds"]
print(f"{'qml_digits4 train step b=256':34} {ours:10.4f} {peer:10.4f} {ours / peer:7.2f}  torchquantum")
PYEOF
