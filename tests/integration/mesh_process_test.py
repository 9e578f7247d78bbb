#!/usr/bin/env python3
"""Integration tests of the mesh layer with real processes: several meshd on loopback, joined over
gRPC + mutual TLS, used through the HTTP API and the `mesh` CLI the way an operator would.
Standard library only; the process and HTTP helpers come from node_api_test.py.

Usage: mesh_process_test.py --meshd PATH --mesh PATH --examples DIR [unittest arguments...]
e.g.   mesh_process_test.py --meshd build/x/apps/mesh/meshd --mesh build/x/apps/mesh/mesh \
           --examples build/x/examples KillTest -v

Every test starts its own nodes on fresh data dirs (heartbeat 200 ms, dead after 1.5 s, so that
membership changes take a second or two) and kills them, and any mesh-worker they left, when it
ends, whether it passed or not. Waits are bounded and say what they waited for. A failing test
prints the tail of every node's log.
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the import below
import node_api_test as base  # noqa: E402  (MESHD, MESH and EXAMPLES are set in main())
from node_api_test import Meshd, metric, wait_until  # noqa: E402

MESH_CONFIG = """\
[mesh]
heartbeat = "200ms"
dead_after = "1500ms"
"""

# progress.wasm does ITERS steps of LCG work 10 times, then prints "done <sum>". On the interp
# engine 300000 takes about 1-2 s on a loaded two-core machine: long enough to be caught running
# and killed, short enough that eight of them on two single-slot executors finish in seconds.
ITERS = '600000'
JOBS = 8
DONE_RE = re.compile(rb'^done \d+\n$')


class MeshNode(Meshd):
    """A meshd that takes part in the mesh: its mesh address, peers, history and explanation."""
    log_level = 'info'  # its log is printed when a test fails

    @property
    def mesh_addr(self):
        with open(os.path.join(self.data_dir, 'mesh.addr')) as f:
            return f.read().strip()

    def get_json(self, path):
        r = self.call('GET', path)
        if r.status != 200:
            raise AssertionError(f'GET {path} on {self.name}: {r}')
        return r.json()

    def peers(self):
        return self.get_json('/v1/peers')['peers']

    def metric(self, line_prefix):
        """The value of the /metrics line that starts with `line_prefix` (0 when absent)."""
        r = self.call('GET', '/metrics')
        if r.status != 200:
            raise AssertionError(f'GET /metrics on {self.name}: {r}')
        for line in r.body.decode().splitlines():
            if line.startswith(line_prefix + ' '):
                return float(line.split()[-1])
        return 0

    def alive_peers(self):
        return {p['did'] for p in self.peers() if p['state'] == 'alive'}

    def history(self, job_id):
        return self.get_json(f'/v1/jobs/{job_id}/history')['blocks']

    def explain(self, job_id):
        return self.get_json(f'/v1/jobs/{job_id}/explain')

    def output(self, job_id):
        r = self.call('GET', f'/v1/jobs/{job_id}/output')
        if r.status != 200:
            raise AssertionError(f'GET /v1/jobs/{job_id}/output on {self.name}: {r}')
        return r.body

    def submit_spec(self, body):
        r = self.post_job(body)
        if r.status != 201:
            raise AssertionError(f'POST /v1/jobs on {self.name}: want 201, got {r}')
        return r.json()


def phases(blocks):
    return [b['phase'] for b in blocks]


def describe(node, ids, names):
    """For failure messages: each job's state, executor and history on `node`."""
    lines = []
    for job_id in ids:
        job = node.job(job_id)
        steps = [b['phase'] + (f'({names.get(b["detail"].get("executor"), "?")})'
                               if 'executor' in b['detail'] else '')
                 for b in node.history(job_id)]
        lines.append(f'  {job_id}: {job["state"]} on {names.get(job.get("executor"), "-")}: '
                     f'{" ".join(steps)}')
    return '\n'.join(lines)


class MeshTest(unittest.TestCase):
    """Starts nodes on demand; every node is killed when the test ends."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='mesh_process.')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.nodes = []
        # Cleanups run last-in first-out: the logs are printed (on failure) before the kill.
        self.addCleanup(self.kill_all)
        self.addCleanup(self.dump_logs_on_failure)

    def kill_all(self):
        for node in self.nodes:
            node.kill()

    def dump_logs_on_failure(self):
        # unittest's own record of this run (each cleanup runs with outcome.success reset).
        result = getattr(getattr(self, '_outcome', None), 'result', None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            for node in self.nodes:
                sys.stderr.write(f'\n--- log of node {node.name} ({node.data_dir}) ---\n'
                                 f'{node.log()}\n')

    def start_node(self, name, *flags, peers=(), config=MESH_CONFIG):
        data_dir = os.path.join(self.tmp, name)
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(data_dir, 'meshd.toml'), 'w') as f:
            f.write(config)
        args = ['--engine', 'interp', '--mesh-listen', '127.0.0.1:0', *flags]
        for p in peers:
            args += ['--peer', p.mesh_addr]
        node = MeshNode(data_dir, args)
        node.name = name
        self.nodes.append(node)
        node.start()
        self.assertEqual(node.info()['did'], node.did)
        return node

    def start_mesh(self, executor_flags=()):
        """A (the submitter) and executors B and C, which bootstrap from A; returns once every
        node sees the other two alive."""
        a = self.start_node('a')
        b = self.start_node('b', *executor_flags, peers=[a])
        c = self.start_node('c', *executor_flags, peers=[a])
        self.wait_mesh([a, b, c])
        return a, b, c

    def wait_mesh(self, nodes, timeout=15):
        for node in nodes:
            want = {n.did for n in nodes if n is not node}
            wait_until(lambda: want <= node.alive_peers(), timeout,
                       f'node {node.name} to see {sorted(n.name for n in nodes if n is not node)}'
                       f' alive in GET /v1/peers', interval=0.05)

    def mesh_cli(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}
        # Reads need the token of the node named with --node (the CLI's data dir is not its).
        if '--node' in args:
            url = args[args.index('--node') + 1]
            env['MESH_TOKEN'] = next(n.token for n in self.nodes if n.url == url)
        return subprocess.run([base.MESH, '--data-dir', os.path.join(self.tmp, 'cli'), *args],
                              capture_output=True, timeout=timeout, env=env)

    def cli(self, node, *args, timeout=60):
        """The `mesh` CLI on `node`'s own data dir (its URL, token and ledger.db)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}
        return subprocess.run([base.MESH, '--data-dir', node.data_dir, *args],
                              capture_output=True, timeout=timeout, env=env)

    def cli_json(self, node, *args):
        r = self.cli(node, '--json', *args)
        self.assertEqual(r.returncode, 0, r)
        return json.loads(r.stdout)

    @staticmethod
    def paid(entries, job_id):
        """The DIDs a job's pay entries credited, with the amounts."""
        return [(p['account'], p['amount']) for e in entries
                if e['kind'] == 'pay' and e.get('job') == job_id
                for p in e['postings'] if p['account'].startswith('did:') and p['amount'] > 0]

    def remote_job(self, node, args=(ITERS,), **extra):
        body = {'module': node.module('progress'), 'args': list(args), 'placement': 'remote'}
        body.update(extra)
        return node.submit_spec(body)


# ------------------------------------------------------------------------------------------------
class SplitKillTest(MeshTest):
    """A split job across two executors, one of them SIGKILLed while it runs a chunk: every chunk
    still succeeds once, the merged output is what the chunks compute when nothing fails, and
    every chunk's Merkle proof checks out (with the CLI, locally)."""

    def test_a_split_job_survives_a_killed_executor(self):
        a, b, c = self.start_mesh(executor_flags=('--max-concurrent', '1'))
        executors = {b.did: b, c.did: c}
        reference = a.submit_spec({'module': a.module('progress'), 'args': [ITERS],
                                   'placement': 'local'})
        lines = a.upload(b''.join(b'%d\n' % i for i in range(8)))
        job = a.submit_spec({'module': a.module('progress'), 'inputs': [lines], 'args': [ITERS],
                             'placement': 'remote',
                             'split': {'splitter': {'kind': 'lines', 'parts': 8}}})

        def chunk_running_on_executor():
            r = a.call('GET', f'/v1/jobs/{job["id"]}/chunks')
            if r.status != 200:
                return None
            for chunk in r.json()['chunks']:
                node = executors.get(a.job(chunk['job']).get('executor'))
                if node is not None and node.call('GET', f'/v1/jobs/{chunk["job"]}').status == 200:
                    if node.job(chunk['job'])['state'] == 'running':
                        return node
            return None

        victim = wait_until(chunk_running_on_executor, 30, 'a chunk to run on an executor',
                            interval=0.02)
        victim.kill()
        done = a.job(job['id'], wait='120s')
        self.assertEqual(done['state'], 'succeeded', done)
        ref = a.job(reference['id'], wait='60s')
        self.assertEqual(a.output(job['id']), a.output(ref['id']) * 8)
        chunks = a.call('GET', f'/v1/jobs/{job["id"]}/chunks').json()
        self.assertEqual((chunks['done'], chunks['total']), (8, 8))
        self.assertTrue(all(ch.get('executor') != victim.did for ch in chunks['chunks']),
                        'a chunk is credited to the killed executor')
        # Each chunk job ended exactly once on A.
        for ch in chunks['chunks']:
            ends = [p for p in phases(a.history(ch['job'])) if p in ('completed', 'failed')]
            self.assertEqual(ends, ['completed'], ch['job'])
        for i in range(8):
            r = self.mesh_cli('chunks', job['id'], '--proof', str(i), '--node', a.url)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b'verified:    yes', r.stdout)


class PeersTest(MeshTest):

    def test_three_nodes_see_each_other_and_mesh_peers_lists_them(self):
        a, b, c = self.start_mesh()
        for node in (a, b, c):
            want = {n.did for n in (a, b, c) if n is not node}

            def settled():
                # Views may still flap once as they settle: a heartbeat that overtakes its
                # sender's Join is answered with a Disconnect, and the two join again at once.
                listed = node.get_json('/v1/peers')
                alive = {p['did'] for p in listed['peers'] if p['state'] == 'alive'}
                return listed if alive == want else None

            listed = wait_until(settled, 15, f'node {node.name} to list the other two alive',
                                interval=0.05)
            self.assertEqual(listed['self'], {'did': node.did, 'address': node.mesh_addr})
            others = {p['did']: p for p in listed['peers'] if p['state'] == 'alive'}
            self.assertEqual(set(others), want, listed)
            for n in (a, b, c):
                if n is not node:
                    self.assertEqual(others[n.did]['address'], n.mesh_addr, listed)
                    self.assertIn('load', others[n.did], listed)
        self.assertEqual(metric(a.metrics(), 'mesh_peers_alive'), 2)
        self.assertEqual(metric(a.metrics(), 'mesh_peers_known'), 2)

        r = self.mesh_cli('peers', '--node', a.url)
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[0], f'self: {a.did} at {a.mesh_addr}', lines)
        self.assertEqual(lines[1], 'view: 2 active peers, 2 nodes known (active and passive views)',
                         lines)
        for n in (b, c):
            row = [line for line in lines if n.did in line]
            self.assertEqual(len(row), 1, lines)
            self.assertTrue(row[0].startswith('alive  '), row)
            self.assertIn(n.mesh_addr, row[0])
        r = self.mesh_cli('--json', 'peers', '--node', b.url)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual({p['did'] for p in json.loads(r.stdout)['peers']}, {a.did, c.did})


# ------------------------------------------------------------------------------------------------
class StoreTest(MeshTest):
    """`mesh store` across four real nodes: a file put with code 2+1 lands on three distinct
    holders in three zones, comes back byte for byte, survives a holder killed with SIGKILL, and
    is removed; bad input is refused with a clear error and its exit code."""

    def start_zone(self, name, zone, peers=()):
        config = MESH_CONFIG + f'[storage]\nsegment_size = "64KiB"\nzone = "{zone}"\n'
        return self.start_node(name, peers=peers, config=config)

    def test_put_get_survive_a_killed_holder_and_remove(self):
        a = self.start_zone('a', 'home')
        holders = [self.start_zone(n, f'zone-{n}', peers=[a]) for n in ('b', 'c', 'd')]
        self.wait_mesh([a, *holders])
        wait_until(lambda: sorted(p.get('zone', '') for p in a.peers()
                                  if p.get('capacity', {}).get('storage_free', 0) > 0)
                   == ['zone-b', 'zone-c', 'zone-d'], 10,
                   'the holders to advertise their room and zone in their heartbeats')
        peers = self.cli(a, 'peers').stdout.decode()
        for n in holders:
            self.assertIn(f'room 1 GiB zone zone-{n.name}', peers)
        data = os.urandom(200 << 10) + b'tail'  # 4 segments of 64 KiB
        path = os.path.join(self.tmp, 'data.bin')
        with open(path, 'wb') as f:
            f.write(data)

        r = self.cli(a, 'store', 'put', path, '--code', '2+1', timeout=120)
        self.assertEqual(r.returncode, 0, r)
        cid = r.stdout.decode().strip()
        self.assertTrue(cid.startswith('bagu'), r)  # a dag-json manifest's CID
        self.assertIn('2+1  encrypted  3/3 holders alive  data.bin', r.stderr.decode())

        stat = self.cli_json(a, 'store', 'stat', cid)
        self.assertEqual(stat['size'], len(data))
        self.assertEqual(stat['segments'], 4)
        self.assertTrue(stat['readable'], stat)
        placed = {h['did'] for h in stat['holders']}
        self.assertEqual(placed, {n.did for n in holders}, stat)  # one per zone, never the owner
        held = sum(n.info()['mesh']['storage']['held_bytes'] for n in holders)
        self.assertEqual(held, stat['stored_bytes'])
        self.assertEqual([f['cid'] for f in self.cli_json(a, 'store', 'ls')['files']], [cid])

        out = os.path.join(self.tmp, 'back.bin')
        r = self.cli(a, 'store', 'get', cid, '-o', out, timeout=120)
        self.assertEqual(r.returncode, 0, r)
        with open(out, 'rb') as f:
            self.assertTrue(f.read() == data, 'the file came back different')
        # Each holder's first shard went to A over gRPC, whose reply named the holder's blob
        # port; the later ones over the blob stream (TLS on that port, no HTTP/2).
        over = {path: sum(n.metric(f'mesh_net_blob_requests_total{{path="{path}"}}')
                          for n in holders) for path in ('grpc', 'stream')}
        self.assertGreater(over['stream'], 0, over)
        self.assertGreater(over['grpc'], 0, over)

        # A job whose input is the stored file: the executor gets the key sealed to it alone,
        # fetches the shards from the holders and runs on the plain bytes.
        job = a.submit_spec({'module': a.module('echo'), 'inputs': [cid],
                             'placement': 'remote'})
        done = a.wait_job(job['id'])
        self.assertEqual(done['state'], 'succeeded', done)
        self.assertIn(done['executor'], {n.did for n in holders}, done)
        self.assertTrue(a.output(job['id']) == data, 'the job read other bytes')

        # A holder killed: the other two shards of each segment rebuild it.
        victim = next(n for n in holders if n.did == stat['holders'][0]['did'])
        victim.kill()
        r = self.cli(a, 'store', 'get', cid, '-o', out, timeout=120)
        self.assertEqual(r.returncode, 0, r)
        with open(out, 'rb') as f:
            self.assertTrue(f.read() == data, 'the file came back different without a holder')
        wait_until(lambda: not self.cli_json(a, 'store', 'stat', cid)['holders'][0]['alive'], 10,
                   'the killed holder to be seen silent')

        r = self.cli(a, 'store', 'rm', cid, timeout=120)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('2 holder(s) dropped their shards', r.stderr.decode())
        self.assertIn('not released', r.stderr.decode())  # the dead one is named
        for n in holders:
            if n is not victim:
                self.assertEqual(n.info()['mesh']['storage']['held_bytes'], 0)
        r = self.cli(a, 'store', 'stat', cid)
        self.assertEqual(r.returncode, 3, r)  # not found

    def test_bad_input_is_refused_clearly(self):
        a = self.start_zone('a', 'home')
        path = os.path.join(self.tmp, 'big.bin')
        with open(path, 'wb') as f:
            f.write(os.urandom(100 << 10))
        r = self.cli(a, 'store', 'put', path, '--code', '0+1')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn('k', r.stderr.decode())
        r = self.cli(a, 'store', 'put', path, '--code', 'four')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn('write K+M', r.stderr.decode())
        # No peers at all: the default 4+2 needs six.
        r = self.cli(a, 'store', 'put', path)
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn('needs 6 peers to hold shards; this node knows 0 that can (6 missing)',
                      r.stderr.decode())
        r = self.cli(a, 'store', 'get', 'not-a-cid', '-o', os.path.join(self.tmp, 'x'))
        self.assertNotEqual(r.returncode, 0, r)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, 'x.partial')))
        # A small file needs no peer: it lives in its manifest.
        small = os.path.join(self.tmp, 'small.txt')
        with open(small, 'wb') as f:
            f.write(b'hello, stored world\n')
        r = self.cli(a, 'store', 'put', small)
        self.assertEqual(r.returncode, 0, r)
        r = self.cli(a, 'store', 'get', r.stdout.decode().strip())
        self.assertEqual(r.stdout, b'hello, stored world\n', r)


class StoreDurabilityTest(MeshTest):
    """Issue 19's durability at process level: nine meshd on loopback (the owner, the six holders
    of a 4+2 file and two spares to repair onto). A 200 MiB file is put; two holders are killed
    with SIGKILL; get is byte-identical; the owner's audits find them lost and repair rebuilds
    their shards of every segment onto the spares; with two more of the first holders killed the
    file still reads back whole (the repaired shards are there, all of them), and the owner's
    ledger shows the rent it paid the holders. MESH_STORE_TEST_MIB sets the size (200)."""

    def test_a_file_survives_two_killed_holders_and_is_repaired(self):
        # Every node in every other's active view, so the owner hears all their heartbeats. A
        # killed holder is lost after 3 unanswered audits (1.5 s); repair_after stays long, as
        # it would be in production, so that holders busy with a repair are not lost for it.
        config = MESH_CONFIG + ('active_view = 10\n[storage]\naudit_interval = "500ms"\n'
                                'repair_after = "60s"\nrent_per_gib_hour = 100000\n')
        a = self.start_node('owner', config=config)
        others = [self.start_node(f'n{i}', peers=[a], config=config) for i in range(8)]
        self.wait_mesh([a, *others], timeout=30)
        wait_until(lambda: sum(1 for p in a.peers()
                               if p.get('capacity', {}).get('storage_free', 0) > 0) == 8, 20,
                   'the owner to hear eight peers with room')
        size = int(os.environ.get('MESH_STORE_TEST_MIB', '200')) << 20
        data = os.urandom(size)
        path = os.path.join(self.tmp, 'big.bin')
        with open(path, 'wb') as f:
            f.write(data)
        digest = hashlib.sha256(data).hexdigest()
        del data

        def get_digest():
            out = os.path.join(self.tmp, 'back.bin')
            r = self.cli(a, 'store', 'get', cid, '-o', out, timeout=600)
            self.assertEqual(r.returncode, 0, r)
            with open(out, 'rb') as f:
                return hashlib.sha256(f.read()).hexdigest()

        r = self.cli(a, 'store', 'put', path, '--code', '4+2', timeout=600)
        self.assertEqual(r.returncode, 0, r)
        cid = r.stdout.decode().strip()
        stat = self.cli_json(a, 'store', 'stat', cid)
        self.assertEqual(stat['size'], size)
        self.assertEqual(stat['segments'], -(-size // (32 << 20)))  # 32 MiB segments
        first = [h['did'] for h in stat['holders']]
        self.assertEqual(len(set(first)), 6, stat)
        by_did = {n.did: n for n in others}
        for did in first[:2]:
            by_did[did].kill()
        self.assertEqual(get_digest(), digest, 'the file came back different without two holders')

        def repaired():
            s = self.cli_json(a, 'store', 'stat', cid)
            dids = [h['did'] for h in s['holders']]
            return s if s['holders_alive'] == 6 and not set(first[:2]) & set(dids) else None

        stat = wait_until(repaired, 300, 'the two lost holders\' shards to be repaired elsewhere')
        spares = {n.did for n in others} - set(first)
        self.assertEqual({h['did'] for h in stat['holders']}, set(first[2:]) | spares, stat)
        # Two more of the first holders gone: four remain, two of them the repaired ones.
        for did in first[2:4]:
            by_did[did].kill()
        self.assertEqual(get_digest(), digest, 'the repaired shards do not rebuild the file')

        entries = self.cli_json(a, 'ledger', 'history', '--limit', '1000')['entries']
        rent = {}
        for e in entries:
            if e['kind'] == 'transfer':
                for p in e['postings']:
                    if p['amount'] > 0:
                        rent[p['account']] = rent.get(p['account'], 0) + p['amount']
        self.assertTrue(set(first[2:]) <= set(rent), rent)
        self.assertTrue(all(amount > 0 for amount in rent.values()), rent)
        self.assertEqual(self.cli(a, 'ledger', 'verify').returncode, 0)


# ------------------------------------------------------------------------------------------------
class KillTest(MeshTest):

    def test_executor_killed_mid_job_every_job_succeeds_exactly_once(self):
        a, b, c = self.start_mesh(executor_flags=('--max-concurrent', '1'))
        executors = {b.did: b, c.did: c}
        # The reference: the same job run on A itself.
        reference = a.submit_spec({'module': a.module('progress'), 'args': [ITERS],
                                   'placement': 'local'})
        # One after the other: each job is submitted once the previous one has reached its
        # executor, so both executors hold queued work when one is killed. (A burst submitted at
        # once is spread as well: MeshTest.ABurstOfJobsIsSpreadAndNoExecutorTakesMoreThanItCanQueue.)
        ids = []
        for _ in range(JOBS):
            job_id = self.remote_job(a)['id']
            ids.append(job_id)

            def at_executor():
                node = executors.get(a.job(job_id).get('executor'))
                return node is not None and node.call('GET', f'/v1/jobs/{job_id}').status == 200

            wait_until(at_executor, 20, f'job {job_id} to reach its executor', interval=0.01)

        def running_on_executor():
            # A job A sees running on B or C, that the executor itself runs (not just queues).
            for job_id in ids:
                job = a.job(job_id)
                node = executors.get(job.get('executor'))
                if job['state'] == 'running' and node is not None:
                    if node.job(job_id)['state'] == 'running':
                        return job_id, node
            return None

        names = {n.did: n.name for n in (a, b, c)}
        try:
            wait_until(lambda: all(any(a.job(i).get('executor') == d for i in ids)
                                   for d in executors), 20,
                       'jobs to be assigned to both executors', interval=0.05)
            victim_job, victim = wait_until(running_on_executor, 20,
                                            'a job to run on an executor', interval=0.02)
        except AssertionError as e:
            raise AssertionError(f'{e}; the jobs on A:\n{describe(a, ids, names)}') from None
        victim_did = victim.did
        killed_at = time.time()
        victim.kill()  # SIGKILL meshd, then its worker

        reference = a.wait_job(reference['id'], timeout=60)
        self.assertEqual(reference['state'], 'succeeded', reference)
        want = a.output(reference['id'])
        self.assertRegex(want, DONE_RE)

        wait_until(lambda: victim_did not in a.alive_peers(), 10,
                   f'A to mark the killed node {victim.name} dead')
        finished = {i: a.wait_job(i, timeout=60) for i in ids}
        on_victim = []
        for job_id, job in finished.items():
            self.assertEqual(job['state'], 'succeeded', job)
            self.assertEqual(a.output(job_id), want, job)
            blocks = a.history(job_id)
            self.assertEqual(phases(blocks).count('completed'), 1, phases(blocks))
            completed = next(b for b in blocks if b['phase'] == 'completed')
            self.assertIn(completed['detail'].get('executor'), executors, completed)
            self.assertEqual(job['executor'], completed['detail']['executor'])
            if completed['detail']['executor'] == victim_did:
                # Possible only for a job the killed node had finished before it was killed.
                self.assertLess(base.parse_time(completed['at']), killed_at + 0.5,
                                f'job {job_id} completed on the killed node: {blocks}')
                continue
            assigned = [b['detail']['executor'] for b in blocks if b['phase'] == 'assigned']
            if victim_did in assigned:
                on_victim.append(job_id)
                self.assertIn('requeued', phases(blocks), f'job {job_id}: {phases(blocks)}')
                self.assertLess(phases(blocks).index('requeued'),
                                phases(blocks).index('completed'))
            # The hash chain: each block names the one before it.
            for prev, block in zip(blocks, blocks[1:]):
                self.assertEqual(block['prev'], prev['cid'])
        self.assertIn(victim_job, on_victim)
        survivor = c if victim is b else b
        self.assertEqual(finished[victim_job]['executor'], survivor.did)
        failures = metric(a.metrics(), 'mesh_market_executor_failures_total')
        self.assertGreaterEqual(failures or 0, 1)

        # What A knows now must not change when the killed node comes back.
        def snapshot():
            return {j['id']: (j['state'], j.get('executor'), j['output_cid'],
                              a.get_json(f'/v1/jobs/{j["id"]}/history')['head'])
                    for j in a.list_all()}

        before = snapshot()
        self.assertEqual(set(before), set(ids) | {reference['id']})
        late_before = metric(a.metrics(), 'mesh_market_receipts_total', result='late') or 0
        # The same data dir and the same mesh address, as a restarted daemon would have.
        victim_addr = victim.mesh_addr
        victim.flags[victim.flags.index('--mesh-listen') + 1] = victim_addr
        victim.start()
        self.assertEqual(victim.did, victim_did)
        self.assertEqual(victim.mesh_addr, victim_addr)
        wait_until(lambda: victim_did in a.alive_peers(), 15,
                   f'A to see the restarted node {victim.name} alive again')
        # It runs the assignments it had accepted again (it cannot know they moved on) and sends
        # their receipts to A, which ignores them as late.
        resumed = [j for j in victim.list_all() if j['id'] in ids]
        self.assertTrue(resumed, 'the killed node had no assigned job on disk')
        wait_until(lambda: all(victim.job(j['id'])['state'] in base.TERMINAL for j in resumed),
                   60, f'the restarted node to finish the {len(resumed)} job(s) it had')
        unfinished_before_kill = [j for j in resumed if j['state'] not in base.TERMINAL]
        wait_until(lambda: (metric(a.metrics(), 'mesh_market_receipts_total', result='late')
                            or 0) >= late_before + len(unfinished_before_kill), 30,
                   'A to receive (and ignore) the restarted node\'s receipts')
        self.assertEqual(snapshot(), before, 'A\'s jobs changed after the killed node came back')
        for job_id in ids:
            self.assertEqual(phases(a.history(job_id)).count('completed'), 1)


# ------------------------------------------------------------------------------------------------
class ExplainTest(MeshTest):

    def test_explain_shows_the_round_its_bids_and_the_selection(self):
        a, b, c = self.start_mesh()
        job = a.wait_job(self.remote_job(a, args=['20000'])['id'], timeout=60)
        self.assertEqual(job['state'], 'succeeded', job)
        self.assertIn(job['executor'], (b.did, c.did))
        # A job like it, at once (within the 5 s lease its auction won): checked at the end.
        alike = self.remote_job(a, args=['20000'])

        r = self.mesh_cli('job', job['id'], '--explain', '--node', a.url)
        self.assertEqual(r.returncode, 0, r)
        text = r.stdout.decode()
        self.assertIn(f'executor:   {job["executor"]}', text)
        self.assertRegex(text, r'(?m)^placement:  market: ')
        self.assertRegex(text, r'(?m)^round \d+: asked 2, 2 bid\(s\), 0 decline\(s\), 0 without')
        for n in (b, c):
            self.assertRegex(text, rf'(?m)^  #[12] {re.escape(n.did)}  score \d\.\d{{3}}  price ')
        self.assertRegex(text, r'(?m)^      selected')
        self.assertRegex(text, rf'(?m)^assigned in round \d+ to {re.escape(job["executor"])} ')

        r = self.mesh_cli('--json', 'job', job['id'], '--explain', '--node', a.url)
        self.assertEqual(r.returncode, 0, r)
        explain = json.loads(r.stdout)
        self.assertEqual(explain, a.explain(job['id']))
        # Right after the end, as later: the job's phase and history head are its last block's.
        history = a.get_json(f'/v1/jobs/{job["id"]}/history')
        self.assertEqual(history['blocks'][-1]['phase'], 'completed')
        self.assertEqual(history['head'], history['blocks'][-1]['cid'])
        self.assertEqual(job['history_head'], history['head'])
        self.assertEqual((job['phase'], explain['phase']), ('completed', 'completed'))
        self.assertEqual(explain['placement'], 'market')
        self.assertEqual(len(explain['rounds']), 1, explain)
        ranked = explain['rounds'][0]['selection']['ranked']
        self.assertEqual({bid['executor'] for bid in ranked}, {b.did, c.did}, ranked)
        self.assertEqual(ranked[0]['executor'], job['executor'])
        self.assertTrue(ranked[0]['reason'].startswith('selected'), ranked)
        self.assertEqual([x['executor'] for x in explain['assignments']], [job['executor']])

        r = self.mesh_cli('job', job['id'], '--history', '--node', a.url)
        self.assertEqual(r.returncode, 0, r)
        printed = [line.split()[1] for line in r.stdout.decode().splitlines()
                   if not line.startswith(' ')]
        self.assertEqual(printed, phases(a.history(job['id'])))
        for phase in ('submitted', 'bidding_open', 'bidding_closed', 'assigned', 'receipt',
                      'completed'):
            self.assertIn(phase, printed)

        # The job alike had no auction of its own: --explain names the lease and whose bid.
        self.assertEqual(a.wait_job(alike['id'], timeout=60)['state'], 'succeeded')
        r = self.mesh_cli('job', alike['id'], '--explain', '--node', a.url)
        self.assertEqual(r.returncode, 0, r)
        text = r.stdout.decode()
        self.assertNotRegex(text, r'(?m)^round \d+:')
        self.assertRegex(text, r'(?m)^  on a lease: holds the lease of the jobs like this one, '
                         rf'won by the auction of {re.escape(job["id"])}/\d+ \(bid ')


# ------------------------------------------------------------------------------------------------
class CapabilityTest(MeshTest):

    def test_job_waits_for_a_capability_then_runs_on_the_node_that_has_it(self):
        a, b, c = self.start_mesh()
        events = a.events('?after=0', timeout=30)
        self.addCleanup(events.close)
        job = self.remote_job(a, args=['20000'], requirements={'capabilities': ['gpu']})
        job_id = job['id']

        def declined_for_capability():
            for block in a.history(job_id):
                if block['phase'] == 'bidding_closed' and 'capability' in json.dumps(
                        block['detail']):
                    return block
            return None

        closed = wait_until(declined_for_capability, 15,
                            'a bidding_closed block naming the missing capability')
        self.assertEqual(closed['detail']['selection']['ranked'], [], closed)
        self.assertEqual({d['code'] for d in closed['detail']['declines']}, {'capability'})
        waiting = events.until(lambda e: e['event'] == 'job.waiting' and
                               e['data'].get('job_id') == job_id, timeout=15)[-1]
        self.assertIn('capability', waiting['data']['reason'], waiting)
        self.assertEqual(a.job(job_id)['state'], 'queued')

        d = self.start_node('d', '--capability', 'gpu', peers=[a])
        done = a.wait_job(job_id, timeout=30)
        self.assertEqual(done['state'], 'succeeded', done)
        self.assertEqual(done['executor'], d.did)
        self.assertRegex(a.output(job_id), DONE_RE)
        self.assertEqual(phases(a.history(job_id)).count('completed'), 1)
        self.assertIn(d.did, a.alive_peers())


# ------------------------------------------------------------------------------------------------
# An executor that bids the lowest price (base fee 0, 1 credit per 10^9 fuel), so that it is
# asked first; and a submitter that picks bids by price alone, so that it really is picked first.
CHEAPEST = MESH_CONFIG + 'base_fee = 0\nrate_per_gfuel = 1\n'
BY_PRICE = MESH_CONFIG + ('price_weight = 1.0\nreputation_weight = 0.0\nresources_weight = 0.0\n'
                          'latency_weight = 0.0\n')
SMALL = '20000'  # progress.wasm iterations: a fraction of a second on interp


class TrustTest(MeshTest):
    """Credits and verification with real processes: a lying executor is outvoted by
    replicate(3) and never paid, a stalling one times out and is not paid, the submitter's ledger
    verifies, and an entry altered on disk is found by `mesh ledger verify` with meshd stopped."""

    def submit(self, node, *flags):
        r = self.cli(node, 'submit', os.path.join(base.EXAMPLES, 'progress.wasm'), '--remote',
                     *flags, '--', SMALL)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout.decode().strip()

    def reference_output(self, node):
        job = node.submit_spec({'module': node.module('progress'), 'args': [SMALL],
                                'placement': 'local'})
        self.assertEqual(node.wait_job(job['id'])['state'], 'succeeded')
        out = node.output(job['id'])
        self.assertRegex(out, DONE_RE)
        return out

    def test_a_liar_is_outvoted_and_never_paid_and_an_altered_ledger_is_caught(self):
        a = self.start_node('a')
        b = self.start_node('b', peers=[a])
        c = self.start_node('c', peers=[a])
        d = self.start_node('d', '--fault', 'lie', peers=[a], config=CHEAPEST)
        self.wait_mesh([a, b, c, d])
        names = {n.did: n.name for n in (a, b, c, d)}
        want = self.reference_output(a)
        ids = [self.submit(a, '--verify', 'replicate(3)') for _ in range(3)]
        try:
            jobs = [a.wait_job(i, timeout=40) for i in ids]
        except AssertionError as e:
            raise AssertionError(f'{e}; the jobs on A:\n{describe(a, ids, names)}') from None
        for job in jobs:
            self.assertEqual(job['state'], 'succeeded', job)
            self.assertEqual(job['spec']['verification'], 'replicate(3)')
            self.assertEqual(a.output(job['id']), want, 'the honest output, not the lie')
            self.assertIn(job['executor'], (b.did, c.did))
            blocks = a.history(job['id'])
            verified = [x['detail'] for x in blocks if x['phase'] == 'verified']
            self.assertEqual(len(verified), 1, phases(blocks))
            self.assertEqual(verified[0]['outcome'], 'agreed', verified)
            self.assertEqual([o['executor'] for o in verified[0]['outvoted']], [d.did], verified)
            self.assertNotEqual(verified[0]['outvoted'][0]['output'], job['output_cid'])
            self.assertEqual(verified[0]['output_cid'], job['output_cid'])
            assigned = [x['detail']['executor'] for x in blocks if x['phase'] == 'assigned']
            self.assertEqual(sorted(assigned), sorted([b.did, c.did, d.did]), phases(blocks))

        # The ledger: each job paid B and C once, D never; nothing is held any more.
        def all_paid():
            es = self.cli_json(a, 'ledger', 'history', '--limit', '1000')['entries']
            return es if all(len(self.paid(es, i)) == 2 for i in ids) else None

        entries = wait_until(all_paid, 10, 'every job\'s two payments on A\'s ledger')
        for job_id in ids:
            self.assertEqual(sorted(did for did, _ in self.paid(entries, job_id)),
                             sorted([b.did, c.did]))
        self.assertFalse([e for e in entries if any(p['account'] == d.did
                                                    for p in e['postings'])],
                         'the liar was paid')
        wait_until(lambda: self.cli_json(a, 'ledger', 'balance')['held'] == 0, 10,
                   'the escrows\' rest to be refunded')
        r = self.cli(a, 'ledger', 'verify')
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(b'ledger OK: ', r.stdout)
        reputation = {x['did']: x for x in self.cli_json(a, 'reputation')['executors']}
        self.assertEqual(reputation[d.did]['outvoted'], len(ids), reputation)
        self.assertEqual(reputation[d.did]['successes'], 0, reputation)
        for honest in (b, c):
            self.assertEqual(reputation[honest.did]['outvoted'], 0, reputation)
            self.assertEqual(reputation[honest.did]['successes'], len(ids), reputation)
            self.assertGreater(reputation[honest.did]['score'], reputation[d.did]['score'])
        table = self.cli(a, 'reputation').stdout.decode()
        self.assertRegex(table, rf'(?m)^{re.escape(d.did)} +0\.\d{{3}} .* {len(ids)}  \S+$')

        # Stop A and pay B 500 more in one entry, balanced so the sums still agree: only the
        # hash chain and the signature can tell.
        a.kill()
        pay = next(e for e in entries if e['kind'] == 'pay')
        db = sqlite3.connect(os.path.join(a.data_dir, 'ledger.db'))
        try:
            with db:
                for posting in pay['postings']:
                    delta = 500 if posting['amount'] > 0 and posting['account'].startswith(
                        'did:') else -500 if posting['amount'] < 0 else 0
                    db.execute('UPDATE postings SET amount = amount + ? WHERE seq = ? AND '
                               'account = ?', (delta, pay['seq'], posting['account']))
        finally:
            db.close()
        # No node answers at A's address any more: the CLI reads the file itself.
        r = self.cli(a, 'ledger', 'verify')
        self.assertEqual(r.returncode, 6, r)
        self.assertIn(b'reading ' + os.path.join(a.data_dir, 'ledger.db').encode(), r.stderr)
        self.assertIn(f'ledger CORRUPT at entry {pay["seq"]}: '.encode(), r.stderr)
        self.assertIn(b'signature does not verify', r.stderr)
        r = self.cli(a, '--json', 'ledger', 'verify', '--offline')
        self.assertEqual(r.returncode, 6, r)
        report = json.loads(r.stdout)
        self.assertEqual((report['ok'], report['first_bad_seq']), (False, pay['seq']), report)

    def test_a_stalling_executor_times_out_unpaid_and_the_job_completes_elsewhere(self):
        a = self.start_node('a', config=BY_PRICE)
        b = self.start_node('b', peers=[a])
        s = self.start_node('s', '--fault', 'stall', peers=[a], config=CHEAPEST)
        self.wait_mesh([a, b, s])
        want = self.reference_output(a)
        # The receipt is due 10 s (receipt_grace) after the 1 s wall-time limit.
        job_id = self.submit(a, '--timeout', '1s')
        job = a.wait_job(job_id, timeout=40)
        self.assertEqual(job['state'], 'succeeded', job)
        self.assertEqual(job['executor'], b.did)
        self.assertEqual(a.output(job_id), want)
        blocks = a.history(job_id)
        assigned = [x['detail']['executor'] for x in blocks if x['phase'] == 'assigned']
        self.assertEqual(assigned, [s.did, b.did], phases(blocks))
        requeued = [x['detail'] for x in blocks if x['phase'] == 'requeued']
        self.assertTrue(any('no receipt by the deadline' in q.get('reason', '')
                            for q in requeued), requeued)

        def balance_settled():
            balance = self.cli_json(a, 'ledger', 'balance')
            return balance if balance['held'] == 0 else None

        wait_until(balance_settled, 10, 'the submitter\'s held credits to return to 0')
        entries = self.cli_json(a, 'ledger', 'history', '--did', a.did)['entries']
        self.assertEqual([e['kind'] for e in entries if e.get('job') == job_id],
                         ['refund', 'escrow'])
        everything = self.cli_json(a, 'ledger', 'history', '--limit', '1000')['entries']
        self.assertEqual([did for did, _ in self.paid(everything, job_id)], [b.did])
        self.assertFalse([e for e in everything if any(p['account'] == s.did
                                                       for p in e['postings'])],
                         'the staller was paid')
        reputation = {x['did']: x for x in self.cli_json(a, 'reputation')['executors']}
        self.assertEqual((reputation[s.did]['timeouts'], reputation[s.did]['successes']), (1, 0),
                         reputation)
        self.assertEqual(reputation[b.did]['successes'], 1, reputation)
        self.assertEqual(self.cli(a, 'ledger', 'verify').returncode, 0)


# ------------------------------------------------------------------------------------------------
class UserPaysTest(MeshTest):
    """A user's market job (issue 18's accounts) is signed with the user's own DID, escrowed from
    the user's account and pays the executor from it; the node's own account is not touched."""

    def test_a_users_market_job_is_paid_from_its_account(self):
        a = self.start_node('a')
        b = self.start_node('b', peers=[a])
        self.wait_mesh([a, b])
        r = a.call('POST', '/v1/users', json.dumps({'name': 'alice', 'role': 'submit'}),
                   {'Content-Type': 'application/json'})
        self.assertEqual(r.status, 201, r)
        alice = r.json()
        node_before = a.get_json('/v1/ledger/balance')
        module = a.call('POST', '/v1/blobs', base.example('hello'), token=alice['token'])
        self.assertEqual(module.status, 201, module)
        r = a.post_job({'module': module.json()['cid'], 'placement': 'remote'}, wait='60s',
                       token=alice['token'])
        self.assertEqual(r.status, 201, r)
        job = r.json()
        self.assertEqual(job['state'], 'succeeded', job)
        self.assertEqual(job['spec']['submitter'], alice['did'])
        self.assertEqual(job['executor'], b.did)

        def settled():
            balance = a.call('GET', '/v1/ledger/balance', token=alice['token']).json()
            return balance if balance['held'] == 0 else None

        balance = wait_until(settled, 10, "alice's escrow to be settled")
        self.assertEqual(balance['did'], alice['did'])
        entries = a.call('GET', '/v1/ledger/history', token=alice['token']).json()['entries']
        # Alice's account: the escrow and the rest's refund (the pay moves the escrow's credits).
        self.assertEqual(sorted(e['kind'] for e in entries if e.get('job') == job['id']),
                         ['escrow', 'refund'])
        everything = a.get_json('/v1/ledger/history?limit=1000')['entries']
        paid = self.paid(everything, job['id'])
        self.assertEqual([did for did, _ in paid], [b.did])
        start = 1_000_000  # a new account starts full (TrustOptions.regen)
        # Alice paid the executor (plus a small fee); her account regenerates meanwhile, by
        # 100,000 credits an hour, so a few credits may be back already.
        spent = start - balance['available']
        self.assertGreater(spent, 0, balance)
        self.assertLessEqual(spent, sum(amount for _, amount in paid) + 1000, balance)
        node_after = a.get_json('/v1/ledger/balance')
        self.assertEqual((node_after['did'], node_after['held']), (a.did, 0))
        self.assertEqual(node_after['available'], node_before['available'],
                         "the node's own account paid nothing for alice's job")


def main():
    import argparse
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--meshd', required=True)
    parser.add_argument('--mesh', required=True)
    parser.add_argument('--examples', required=True)
    args, rest = parser.parse_known_args()
    base.MESHD, base.MESH, base.EXAMPLES = (os.path.abspath(args.meshd),
                                            os.path.abspath(args.mesh),
                                            os.path.abspath(args.examples))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
