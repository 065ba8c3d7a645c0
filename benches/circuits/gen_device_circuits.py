#!/usr/bin/env python3
"""Device-basis benchmark circuits for noisy simulation (tinylab's own generator; no Qiskit needed).

Each circuit has 10 layers: rz(random) sx rz(random) on every qubit, then cx on a random matching of
the device's coupling edges among the circuit's qubits (virtual qubit i = physical qubit i), so both
tinylab and Aer (../shared/peers/bench_qiskit.py --method density_matrix --device NAME) simulate the
very same noisy gates. Usage: python gen_device_circuits.py  (writes noisy_<device>_n<N>.qasm here).
"""
import json, os, random

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES = os.path.join(HERE, "..", "..", "noise", "profiles")

def circuit(device, n, layers=10, seed=1):
    prof = json.load(open(os.path.join(PROFILES, device + ".json")))
    edges = sorted({tuple(sorted(e)) for e in prof["coupling_map"] if max(e) < n})
    rng = random.Random(seed)
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";',
             f"// {layers} layers of rz sx rz on every qubit and cx on a random matching of {device}'s edges",
             f"qreg q[{n}];"]
    for _ in range(layers):
        for q in range(n):
            lines.append(f"rz({rng.uniform(-3.14, 3.14)!r}) q[{q}];")
            lines.append(f"sx q[{q}];")
            lines.append(f"rz({rng.uniform(-3.14, 3.14)!r}) q[{q}];")
        free = set(range(n))
        order = edges[:]
        rng.shuffle(order)
        for a, b in order:
            if a in free and b in free:
                if rng.random() < 0.5:
                    a, b = b, a
                lines.append(f"cx q[{a}], q[{b}];")
                free -= {a, b}
    return "\n".join(lines) + "\n"

for device, n in [("manila", 5), ("nairobi", 7), ("guadalupe", 12), ("guadalupe", 16)]:
    with open(os.path.join(HERE, f"noisy_{device}_n{n}.qasm"), "w") as f:
        f.write(circuit(device, n))
