#!/usr/bin/env python3
"""Word counts of text files with the job DSL: one split job per file, all files at once.

Each file is cut into whole lines (the node's lines splitter), examples/wordcount.c counts each
part in parallel, and a local merge sums the parts' counts. The files' jobs run concurrently:
each call returns a future at once. The totals are checked against a count made here.

    wordcount_dsl.py --module build/debug/examples/wordcount.wasm [--parts 4]
                     [--node URL --token TOKEN] FILE...

Without --node/--token the node is the one the `mesh` CLI would use. Prints
`<lines> <words> <bytes> <file>` per file, like `wc`; exit status 0 when every count matches.
"""

import argparse
import concurrent.futures
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import mesh_sdk  # noqa: E402
from mesh_sdk import SplitJob  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('files', nargs='+')
    p.add_argument('--module', required=True, help='wordcount.wasm')
    p.add_argument('--parts', type=int, default=4, help='chunks per file')
    p.add_argument('--node', help="the node's API URL")
    p.add_argument('--token', help='its API token')
    a = p.parse_args()
    client = mesh_sdk.Client(a.node, a.token) if a.node else None

    @mesh_sdk.job(module=a.module, limits={'fuel': 10**11, 'wall_time_ms': 120_000},
                  client=client)
    def wordcount(path: str, parts: int = 4):
        with open(path, 'rb') as f:
            data = f.read()
        if not data:
            return None  # an empty file: one job over no input, no split
        return {'inputs': data, 'split': SplitJob.lines(parts), 'labels': {'file': path[-60:]}}

    @wordcount.merge
    def total(outputs):
        if isinstance(outputs, bytes):  # the unsplit job of an empty file
            outputs = [outputs]
        counts = [[int(x) for x in out.split()] for out in outputs]
        return tuple(sum(c[i] for c in counts) for i in range(3))

    futures = {wordcount(path, parts=a.parts): path for path in a.files}
    ok = True
    for future in concurrent.futures.as_completed(futures):
        path = futures[future]
        try:
            lines, words, size = future.result()
        except mesh_sdk.MeshError as e:
            print(f'{path}: {e}', file=sys.stderr)
            ok = False
            continue
        with open(path, 'rb') as f:
            data = f.read()
        expected = (data.count(b'\n'), len(data.split()), len(data))
        mark = '' if (lines, words, size) == expected else f'  MISMATCH, expected {expected}'
        ok = ok and not mark
        print(f'{lines:8} {words:8} {size:8} {path}{mark}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
