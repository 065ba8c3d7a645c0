#!/usr/bin/env python3
"""PyTorch's side of benches/side_by_side_gpt.sh: the GPT of gpt_peer.py (same architecture and
parameter names as tinylab's transformers::model::Gpt) timed on three workloads, eager float32 and,
for generation, torch's dynamic int8 quantization of the Linear layers
(torch.ao.quantization.quantize_dynamic, qint8 weights, activations quantized per call).

Workloads (the sizes come from --config, a JSON GptConfig, default the bench configuration below):
  train_step   forward + cross-entropy + backward + AdamW step on a [batch, seq] batch
  prefill      the logits of a 256-token prompt at batch 1, filling the KV cache
  generate     one token at a time at batch 1 after a 16-token prompt, with the KV cache:
               seconds per generated token (median over repeats)
Prints one JSON object per line: {"workload", "seconds", "threads"} (+ "dtype").
  ~/.cache/tinylab-peers/bin/python benches/peers/torch_gpt_bench.py --threads 2
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt_peer import Gpt  # noqa: E402

# The bench model: Llama-style (RMS norm, SwiGLU, RoPE, 8 query / 2 key-value heads), char vocabulary.
BENCH = dict(vocab=76, context=512, d_model=256, n_layers=4, n_heads=8, n_kv_heads=2, d_ff=688,
             norm="RmsNorm", mlp="SwiGlu", positions="Rotary", tied=False, bias=False, norm_eps=1e-5,
             rope_base=10000.0, block="Standard", attention="naive")


def median_seconds(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generate_seconds_per_token(model, prompt, new_tokens):
    with torch.no_grad():
        caches = [dict() for _ in model.blocks]
        logits = model(prompt, caches)
        token = logits[:, -1].argmax(-1, keepdim=True)
        start = time.perf_counter()
        for _ in range(new_tokens):
            logits = model(token, caches)
            token = logits[:, -1].argmax(-1, keepdim=True)
        return (time.perf_counter() - start) / new_tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--config", type=str, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = json.loads(Path(args.config).read_text()) if args.config else BENCH
    model = Gpt(cfg)
    vocab = cfg["vocab"]

    # The cached path must give the uncached logits (a check of the peer itself).
    ids = torch.randint(0, vocab, (1, 24))
    with torch.no_grad():
        full = model(ids)
        caches = [dict() for _ in model.blocks]
        parts = torch.cat([model(ids[:, :16], caches), model(ids[:, 16:20], caches), model(ids[:, 20:], caches)], 1)
    assert torch.allclose(full, parts, atol=1e-4), (full - parts).abs().max()

    def emit(workload, seconds, dtype="f32"):
        print(json.dumps({"workload": workload, "seconds": seconds, "threads": args.threads, "dtype": dtype}))

    x = torch.randint(0, vocab, (args.batch, args.seq))
    y = torch.randint(0, vocab, (args.batch, args.seq))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        loss.backward()
        opt.step()

    emit("train_step", median_seconds(step, args.repeat))
    model.eval()
    prompt256 = torch.randint(0, vocab, (1, 256))

    def prefill():
        with torch.no_grad():
            model(prompt256, [dict() for _ in model.blocks])

    emit("prefill_256", median_seconds(prefill, args.repeat))
    prompt16 = torch.randint(0, vocab, (1, 16))
    runs = [generate_seconds_per_token(model, prompt16, args.new_tokens) for _ in range(args.repeat)]
    emit("generate_per_token", statistics.median(runs))
    qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    runs = [generate_seconds_per_token(qmodel, prompt16, args.new_tokens) for _ in range(args.repeat)]
    emit("generate_per_token", statistics.median(runs), "dynamic_int8")


if __name__ == "__main__":
    main()
