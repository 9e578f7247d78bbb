#!/usr/bin/env python3
"""The main job: multiply two N x N float64 matrices across the mesh, split into row blocks.

A is cut into K row blocks (the built-in bytes splitter), each block runs examples/matmul.c in
`--block N` mode with B as a broadcast input, and the blocks' outputs are concatenated in order.
The result is compared byte for byte with the product the native build of the same C file
computes, every chunk's Merkle inclusion proof is checked here (not trusting the node), and the
time, the chunks each executor ran and the Merkle root are printed.

    split_matmul.py --node URL --token TOKEN --native matmul_native --module matmul.wasm
                    [--n 100] [--chunks 10] [--seed 7] [--names did=name ...]

Exit status 0 when the product and every proof check out, 1 otherwise.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from mesh_sdk import Client, SplitJob, verify_chunk_proof  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--node', required=True, help='the submitting node\'s API URL')
    p.add_argument('--token', required=True, help='its API token')
    p.add_argument('--native', required=True, help='matmul_native (the reference product)')
    p.add_argument('--module', required=True, help='matmul.wasm')
    p.add_argument('--n', type=int, default=100)
    p.add_argument('--chunks', type=int, default=10)
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--names', nargs='*', default=[], help='DID=name pairs for the report')
    a = p.parse_args()
    if a.n < 1 or a.chunks < 1 or a.chunks > a.n:
        p.error('need 1 <= chunks <= n')
    names = dict(pair.split('=', 1) for pair in a.names)
    n, rows = a.n, -(-a.n // a.chunks)  # rows per chunk, rounded up: at most `chunks` chunks

    ab = subprocess.run([a.native, '--emit', str(n), str(a.seed)], check=True,
                        stdout=subprocess.PIPE).stdout
    t0 = time.monotonic()
    native = subprocess.run([a.native, '--gen', str(n), str(a.seed)], check=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    native_s = time.monotonic() - t0
    size = n * n * 8
    matrix_a, matrix_b = ab[:size], ab[size:]

    mesh = Client(a.node, a.token)
    module, in_a, in_b = mesh.upload(open(a.module, 'rb').read()), mesh.upload(matrix_a), \
        mesh.upload(matrix_b)
    t0 = time.monotonic()
    job = mesh.submit(module, inputs=[in_a, in_b], args=['--block', n],
                      split=SplitJob.bytes(rows * n * 8), placement='remote',
                      limits={'fuel': 200_000_000_000, 'wall_time_ms': 600_000,
                              'memory_bytes': 256 << 20})
    job = mesh.wait(job.id, timeout=900)
    elapsed = time.monotonic() - t0
    if job.state != 'succeeded':
        print(f'split job {job.id} {job.state}: {job.reason}', file=sys.stderr)
        return 1
    product = mesh.output(job.id)
    chunks = mesh.chunks(job.id)
    root = chunks['merkle_root']
    per_executor = {}
    for c in chunks['chunks']:
        who = names.get(c.get('executor', ''), c.get('executor') or 'the submitter')
        per_executor[who] = per_executor.get(who, 0) + 1
    proofs_ok = all(verify_chunk_proof(mesh.chunk_proof(job.id, c['index']), root)
                    for c in chunks['chunks'])
    same = product == native

    print(f'job         {job.id}')
    print(f'product     {n}x{n} float64 in {chunks["total"]} chunks of {rows} rows')
    print(f'time        {elapsed:.3f} s on the mesh (submit to verified, merged result); '
          f'native single-thread product {native_s:.3f} s')
    for who in sorted(per_executor):
        print(f'executor    {who}: {per_executor[who]} chunk(s)')
    print(f'fuel        {job.fuel_used}')
    print(f'merkle root {root}')
    print(f'proofs      {"all " + str(chunks["total"]) + " chunk proofs verify" if proofs_ok else "A PROOF FAILED"}')
    print(f'check       {"bit-for-bit identical to the native product" if same else "DIFFERS from the native product"}')
    return 0 if same and proofs_ok else 1


if __name__ == '__main__':
    sys.exit(main())
