#!/usr/bin/env bash
# Side by side on the same machine in one run: the GPT workloads of benches/gpt.rs (criterion) and of
# benches/peers/torch_gpt_bench.py (PyTorch eager float32; generation also with torch's dynamic int8
# Linear layers) on the same Llama-style model (d_model 256, 4 layers, 8/2 heads, SwiGLU 688, RoPE),
# both at THREADS threads: one AdamW step on an 8 x 128 batch, the prefill of 256 tokens at batch 1,
# and seconds per generated token at batch 1 with the KV cache. Ratio = tinylab time / PyTorch time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PEERS_PYTHON:-$HOME/.cache/tinylab-peers/bin/python}
THREADS=${THREADS:-2}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "CPU: $cpu, $(nproc) cores; $THREADS threads"
torch_json=$($PY -W ignore benches/peers/torch_gpt_bench.py --threads "$THREADS" --repeat 5)
log=$(mktemp)
RAYON_NUM_THREADS=$THREADS cargo bench --quiet --bench gpt -- --warm-up-time 1 --measurement-time 5 >/dev/null 2>"$log" \
  || { cat "$log"; exit 1; }
$PY - "$torch_json" <<'PYEOF'
import json, sys
torch = {(d["workload"], d["dtype"]): d["seconds"] for d in map(json.loads, sys.argv[1].splitlines())}
def ours(name, per=1):
    with open(f"target/criterion/gpt/{name}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9 / per
rows = [("train step 8x128", ours("train_step_b8_t128"), torch[("train_step", "f32")]),
        ("prefill 256", ours("prefill_256"), torch[("prefill_256", "f32")]),
        ("generate, per token", ours("generate_64_tokens", 64), torch[("generate_per_token", "f32")])]
print(f"{'workload':24} {'tinylab f32':>12} {'torch f32':>10} {'ratio':>6}  (ms)")
for name, a, b in rows:
    print(f"{name:24} {a*1e3:12.2f} {b*1e3:10.2f} {a/b:6.2f}")
print(f"torch dynamic int8 generation: {torch[('generate_per_token', 'dynamic_int8')]*1e3:.2f} ms per token")
PYEOF
