#!/usr/bin/env python3
"""Independent logits, loss and gradient norm for tinylab's GPT decoder (transformers/src/model).

Builds the same architecture in plain PyTorch, with the same parameter names (tok_emb, pos_emb,
blocks.{i}.norm1 / attn.{q,k,v,o}_proj / conv (LSRA) / norm2 / mlp.{fc1,fc2 | gate_proj,up_proj,
down_proj}, norm_f, lm_head; nn.Linear's [out, in] layout):

- pre-norm blocks x + mix(norm1(x)), x + mlp(norm2(x)); nn.LayerNorm (with or without bias) or
  nn.RMSNorm, eps from the config; GELU is nn.GELU() (exact erf), as tinylab's;
- causal attention with grouped-query heads (query head h reads key/value head h // (Hq / Hkv)),
  scale 1/sqrt(head_dim), softmax in float32;
- rotary positions in the rotate-half convention of Llama / Hugging Face, angle p * base^(-2i/d)
  computed in float64 and rounded to float32 (as tinylab does);
- LSRA (Lite Transformer): attention on the first half of the channels, on the second half a causal
  depthwise Conv1d (weight [C, 1, K], left padding K - 1) followed by out_proj, concatenated;
- the output head is tok_emb's weight when tied, lm_head otherwise;
- per-block heads and MLP widths from the config's `block_shapes` when present (tinylab's structured
  pruning, transformers/src/model/prune), head width attn_width / n_heads throughout.

Weights are seeded torch draws (torch.manual_seed), larger than a fresh model's so that every term
matters: linear weights and embeddings N(0, 0.2^2), norm weights 1 + N(0, 0.1^2), biases and conv
weights N(0, 0.1^2) and N(0, 0.3^2). For each configuration the script writes
  <out>/gpt_<name>.safetensors  the weights (f32, the config as JSON in __metadata__
                                 ["tinylab_gpt_config"], the serde form of tinylab's GptConfig)
  <out>/gpt_<name>.json         tokens [2, 12], targets, logits [2, 12, vocab] (flat), the mean
                                 cross-entropy of the logits against the targets, and the global L2
                                 norm of its parameter gradients.
transformers/tests/model.rs loads both and asserts tinylab's numbers equal these to 1e-4.

Regenerate the committed fixture (CPU torch, numpy and safetensors in the peers venv):
  ~/.cache/tinylab-peers/bin/python benches/peers/gpt_peer.py transformers/tests/fixtures
"""
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

CONFIG_KEY = "tinylab_gpt_config"

BASE = dict(vocab=17, context=12, d_model=16, n_layers=2, norm_eps=1e-5, rope_base=10000.0, attention="naive")
CONFIGS = {
    # LayerNorm + GELU + learned positions + tied head + biases, multi-head.
    "gpt2": dict(BASE, n_heads=4, n_kv_heads=4, d_ff=32, norm="LayerNorm", mlp="Gelu", positions="Learned",
                 tied=True, bias=True, block="Standard"),
    # RMSNorm + SwiGLU + RoPE + grouped-query heads + untied head, no biases.
    "llama": dict(BASE, n_heads=4, n_kv_heads=2, d_ff=24, norm="RmsNorm", mlp="SwiGlu", positions="Rotary",
                  tied=False, bias=False, block="Standard"),
    # LSRA blocks (kernel 3) with LayerNorm, GELU, rotary positions and biases.
    "lsra": dict(BASE, n_heads=2, n_kv_heads=1, d_ff=32, norm="LayerNorm", mlp="Gelu", positions="Rotary",
                 tied=True, bias=True, block={"Lsra": {"kernel": 3}}),
    # The llama configuration after structured pruning: block 0 keeps one key/value group (2 query
    # heads) and 16 MLP channels, block 1 all heads and 10 channels.
    "pruned": dict(BASE, n_heads=4, n_kv_heads=2, d_ff=24, norm="RmsNorm", mlp="SwiGlu", positions="Rotary",
                   tied=False, bias=False, block="Standard",
                   block_shapes=[dict(n_heads=2, n_kv_heads=1, d_ff=16), dict(n_heads=4, n_kv_heads=2, d_ff=10)]),
}


def attn_width(cfg):
    return cfg["d_model"] // 2 if isinstance(cfg["block"], dict) else cfg["d_model"]


def norm(cfg):
    if cfg["norm"] == "LayerNorm":
        return nn.LayerNorm(cfg["d_model"], eps=cfg["norm_eps"], bias=cfg["bias"])
    return nn.RMSNorm(cfg["d_model"], eps=cfg["norm_eps"])


def rope(x, base, offset=0):
    """Rotate-half RoPE of x [B, H, T, D] at positions offset..offset + T."""
    _, _, t, d = x.shape
    half = d // 2
    inv = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
    angle = torch.arange(offset, offset + t, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = angle.cos().float(), angle.sin().float()
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def block_shape(cfg, i):
    """Block i's query heads, key/value heads and MLP width: its entry of `block_shapes` (a model
    whose heads or MLP channels were pruned structurally), else the uniform ones. Heads keep the
    width attn_width / n_heads either way."""
    shapes = cfg.get("block_shapes") or []
    s = shapes[i] if shapes else cfg
    return s["n_heads"], s["n_kv_heads"], s["d_ff"]


class Attention(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        w, (hq, hkv, _) = attn_width(cfg), block_shape(cfg, i)
        self.hq, self.hkv, self.dh = hq, hkv, w // cfg["n_heads"]
        self.rotary = cfg["positions"] == "Rotary"
        self.base = cfg["rope_base"]
        self.q_proj = nn.Linear(w, hq * self.dh, bias=cfg["bias"])
        self.k_proj = nn.Linear(w, hkv * self.dh, bias=cfg["bias"])
        self.v_proj = nn.Linear(w, hkv * self.dh, bias=cfg["bias"])
        self.o_proj = nn.Linear(hq * self.dh, w, bias=cfg["bias"])

    def forward(self, x, cache=None):
        """With `cache` (a dict, empty at the start of a sequence), the keys and values of earlier
        calls are kept there and the new tokens attend to them too (incremental decoding)."""
        b, t, _ = x.shape
        past = cache["k"].shape[2] if cache else 0
        q = self.q_proj(x).view(b, t, self.hq, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.hkv, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.hkv, self.dh).transpose(1, 2)
        if self.rotary:
            q, k = rope(q, self.base, past), rope(k, self.base, past)
        if cache is not None:
            if past:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        group = self.hq // self.hkv
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        causal = torch.ones(t, past + t, dtype=torch.bool).tril(past)
        probs = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(b, t, self.hq * self.dh)
        return self.o_proj(o)


class CausalConv(nn.Module):
    def __init__(self, channels, kernel, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, 1, kernel))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.out_proj = nn.Linear(channels, channels, bias=bias)

    def forward(self, x):
        c, k = self.weight.shape[0], self.weight.shape[2]
        y = F.conv1d(F.pad(x.transpose(1, 2), (k - 1, 0)), self.weight, self.bias, groups=c)
        return self.out_proj(y.transpose(1, 2))


class Mlp(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        d, f, bias = cfg["d_model"], block_shape(cfg, i)[2], cfg["bias"]
        self.swiglu = cfg["mlp"] == "SwiGlu"
        if self.swiglu:
            self.gate_proj = nn.Linear(d, f, bias=bias)
            self.up_proj = nn.Linear(d, f, bias=bias)
            self.down_proj = nn.Linear(f, d, bias=bias)
        else:
            self.fc1 = nn.Linear(d, f, bias=bias)
            self.fc2 = nn.Linear(f, d, bias=bias)
            self.act = nn.GELU()

    def forward(self, x):
        if self.swiglu:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        self.norm1 = norm(cfg)
        self.attn = Attention(cfg, i)
        self.lsra = isinstance(cfg["block"], dict)
        self.w = attn_width(cfg)
        if self.lsra:
            self.conv = CausalConv(cfg["d_model"] - self.w, cfg["block"]["Lsra"]["kernel"], cfg["bias"])
        self.norm2 = norm(cfg)
        self.mlp = Mlp(cfg, i)

    def forward(self, x, cache=None):
        h = self.norm1(x)
        if self.lsra:
            if cache is not None:
                raise NotImplementedError("incremental decoding of LSRA blocks")
            mixed = torch.cat([self.attn(h[..., : self.w]), self.conv(h[..., self.w:])], dim=-1)
        else:
            mixed = self.attn(h, cache)
        x = x + mixed
        return x + self.mlp(self.norm2(x))


class Gpt(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg["vocab"], cfg["d_model"])
        if cfg["positions"] == "Learned":
            self.pos_emb = nn.Embedding(cfg["context"], cfg["d_model"])
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg["n_layers"]))
        self.norm_f = norm(cfg)
        if not cfg["tied"]:
            self.lm_head = nn.Linear(cfg["d_model"], cfg["vocab"], bias=False)

    def forward(self, ids, caches=None):
        """Logits of `ids` [B, T]; with `caches` (one dict per block, empty at the start), the
        tokens continue the ones the caches hold."""
        past = caches[0]["k"].shape[2] if caches and caches[0] else 0
        x = self.tok_emb(ids)
        if self.cfg["positions"] == "Learned":
            x = x + self.pos_emb(torch.arange(past, past + ids.shape[1]))
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches is not None else None)
        h = self.norm_f(x)
        return h @ self.tok_emb.weight.T if self.cfg["tied"] else self.lm_head(h)


def seeded_weights(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("conv.weight"):
                p.copy_(torch.randn_like(p) * 0.3)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    for i, (name, cfg) in enumerate(CONFIGS.items()):
        model = Gpt(cfg)
        seeded_weights(model, 100 + i)
        path = out / f"gpt_{name}.safetensors"
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(path), metadata={CONFIG_KEY: json.dumps(cfg)})
        # Read the file back into a fresh model: the numbers below come from the file's weights.
        model = Gpt(cfg)
        model.load_state_dict(load_file(str(path)), strict=True)
        gen = torch.Generator().manual_seed(7 + i)
        ids = torch.randint(0, cfg["vocab"], (2, cfg["context"]), generator=gen)
        targets = torch.randint(0, cfg["vocab"], (2, cfg["context"]), generator=gen)
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab"]), targets.reshape(-1))
        loss.backward()
        grad_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters()))
        fixture = {
            "peer": f"torch {torch.__version__}",
            "tokens": ids.tolist(),
            "targets": targets.tolist(),
            "logits_shape": list(logits.shape),
            "logits": [float(v) for v in logits.detach().reshape(-1)],
            "loss": float(loss.detach()),
            "grad_norm": grad_norm,
        }
        (out / f"gpt_{name}.json").write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"{name}: loss {float(loss.detach()):.6f}, grad norm {grad_norm:.6f} -> {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "transformers/tests/fixtures"))
