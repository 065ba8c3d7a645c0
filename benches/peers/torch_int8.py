"""PyTorch's int8 kernels (the x86/fbgemm quantized engine) on the shapes of benches/int8.rs.

Prints one JSON object per workload: {"workload", "seconds" (median per call), "engine", "threads"}.
Used by benches/side_by_side_int8.sh; quantized tensors are built once, only the op is timed.
"""
import argparse
import json
import statistics
import time

import torch
import torch.ao.nn.quantized as nnq


def median_seconds(fn, repeat):
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    torch.backends.quantized.engine = engine
    torch.manual_seed(0)
    convs = [("3x3_32to64_32x32_b4", 4, 32, 64, 3, 32, 1), ("1x1_64to128_16x16_b4", 4, 64, 128, 1, 16, 0)]
    for name, n, cin, cout, k, side, pad in convs:
        conv = nnq.Conv2d(cin, cout, k, padding=pad)
        w = torch.quantize_per_channel(torch.rand(cout, cin, k, k) * 0.2 - 0.1, torch.rand(cout) * 1e-3 + 1e-3,
                                       torch.zeros(cout, dtype=torch.long), 0, torch.qint8)
        conv.set_weight_bias(w, torch.rand(cout))
        conv.scale, conv.zero_point = 0.05, 3
        x = torch.quantize_per_tensor(torch.rand(n, cin, side, side) * 2 - 1, 1 / 127, 0, torch.quint8)
        x = x.contiguous(memory_format=torch.channels_last)
        f32 = torch.nn.Conv2d(cin, cout, k, padding=pad)
        xf = torch.rand(n, cin, side, side)
        with torch.no_grad():
            print(json.dumps({"workload": f"conv_{name}", "seconds": median_seconds(lambda: conv(x), args.repeat),
                              "f32_seconds": median_seconds(lambda: f32(xf), args.repeat),
                              "engine": engine, "threads": args.threads}))
    n, k, o = 64, 1024, 1024
    lin = nnq.Linear(k, o)
    w = torch.quantize_per_channel(torch.rand(o, k) * 0.1 - 0.05, torch.rand(o) * 1e-3 + 1e-3,
                                   torch.zeros(o, dtype=torch.long), 0, torch.qint8)
    lin.set_weight_bias(w, torch.rand(o))
    lin.scale, lin.zero_point = 0.05, 3
    x = torch.quantize_per_tensor(torch.rand(n, k) * 2 - 1, 1 / 127, 0, torch.quint8)
    f32 = torch.nn.Linear(k, o)
    xf = torch.rand(n, k)
    with torch.no_grad():
        print(json.dumps({"workload": "fc_1024x1024_b64", "seconds": median_seconds(lambda: lin(x), args.repeat),
                          "f32_seconds": median_seconds(lambda: f32(xf), args.repeat),
                          "engine": engine, "threads": args.threads}))


if __name__ == "__main__":
    main()
