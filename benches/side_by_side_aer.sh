#!/usr/bin/env bash
# Side by side on the same machine in one run: Qiskit Aer (../shared/peers/bench_qiskit.py, 2 threads,
# fusion on; its own simulation time) vs the whole `tinylab sim FILE --json` process (start-up, parsing,
# simulation, printing every probability), medians of 5 after one warm-up run each.
cd "$(dirname "$0")/.."
cargo build --release --quiet
PY=${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}
PEERS=${PEERS:-../shared/peers}
files="benches/circuits/layered_n20_l10.qasm benches/circuits/qft_n20.qasm benches/circuits/layered_n22_l10.qasm benches/circuits/qft_n22.qasm"
$PY $PEERS/bench_qiskit.py $files --threads 2 --repeat 5
for f in $files; do
  $PY - "$f" <<'PYEOF'
import subprocess, sys, time, statistics, json
f = sys.argv[1]
ts = []
for _ in range(6):
    t = time.perf_counter()
    subprocess.run(["./target/release/tinylab", "sim", f, "--json"], stdout=subprocess.DEVNULL, check=True)
    ts.append(time.perf_counter() - t)
ts = ts[1:]
print(json.dumps({"file": f, "tool": "tinylab sim --json (whole process)", "seconds_min": min(ts), "seconds_median": statistics.median(ts)}))
PYEOF
done
