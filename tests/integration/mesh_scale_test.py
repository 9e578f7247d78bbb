#!/usr/bin/env python3
"""Issue 16 on real processes: the partial-view membership in the real binary, and meshsim
checked against real meshd.

BeyondTheViewTest: a job only a node outside the submitter's pair (active views of one) can run
is announced to the submitter's passive view once its widening rounds found no bid, and runs there.

TwentyNodesTest: twenty meshd on loopback, each bootstrapped from one random earlier node, form
one connected graph of bounded active views (at most 5 peers, at most 35 known, heartbeats to
the active view only) and run jobs submitted on every node, each exactly once.

SimValidationTest: sim/scenarios/validation.toml (five nodes, one liar, 200 jobs under
replicate(3) at 20 a second from every node in turn) runs in meshsim, and the same workload runs
on five real meshd, one of them started with --fault lie. What must match is compared: every job
ends once, none fails, no wrong result is accepted, the liar is never paid, and the replicas are
spread (the honest executors near their mean, the liar nearly shut out). Real meshd spreads less
evenly than meshsim: on idle executors of one price, each submitter keeps the two executors its
first verified results raised in reputation, so an executor's count is a multiple of one
submitter's jobs and its share of the mean reads 0.3-0.8 from run to run (0.40-0.79 in five runs
at 50f959d, before leases). Leases (a won auction serves the jobs like it for 5 s) make it
coarser still: one run in about ten on a loaded machine gave an honest executor 0.02 of the mean
(a few replicas) while the others shared the rest (max 1.59). So meshd is held to every honest
executor getting some replicas and none more than twice the mean; meshsim to half and 1.6.

Usage: mesh_scale_test.py --meshd PATH --mesh PATH --meshsim PATH --examples DIR
           --scenario sim/scenarios/validation.toml [unittest arguments...]
"""

import json
import os
import random
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the imports below
import node_api_test as base  # noqa: E402
from mesh_process_test import DONE_RE, MESH_CONFIG, SMALL, MeshTest  # noqa: E402
from node_api_test import metric, wait_until  # noqa: E402

MESHSIM = None
SCENARIO = None
ACTIVE_VIEW = 5  # meshd's default [mesh] active_view
PASSIVE_VIEW = 30


def views(nodes):
    """Each node's GET /v1/peers, by DID."""
    return {n.did: n.get_json('/v1/peers') for n in nodes}


def connected(listed):
    """True if the active views ("alive" peers) join every node into one graph."""
    edges = {did: {p['did'] for p in v['peers'] if p['state'] == 'alive'}
             for did, v in listed.items()}
    seen, stack = set(), [next(iter(edges))]
    while stack:
        did = stack.pop()
        if did in seen:
            continue
        seen.add(did)
        stack.extend(edges.get(did, ()))
    return seen == set(edges)


class TwentyNodesTest(MeshTest):

    def test_twenty_meshd_on_bounded_views_run_every_job_once(self):
        rng = random.Random(16)
        nodes = []
        for i in range(20):
            contact = [rng.choice(nodes)] if nodes else []
            nodes.append(self.start_node(f'n{i:02d}', '--max-concurrent', '1', peers=contact))

        def formed():
            listed = views(nodes)
            for v in listed.values():
                alive = sum(p['state'] == 'alive' for p in v['peers'])
                if not 2 <= alive <= ACTIVE_VIEW:
                    return None
            return listed if connected(listed) else None

        listed = wait_until(formed, 60, 'twenty nodes to form one connected graph of active '
                            'views of 2 to 5 peers', interval=0.2)
        for did, v in listed.items():
            self.assertLessEqual(v['active'], ACTIVE_VIEW, v)
            self.assertLessEqual(v['known'], ACTIVE_VIEW + PASSIVE_VIEW, v)
            self.assertLessEqual(len(v['peers']), ACTIVE_VIEW + PASSIVE_VIEW + 1, v)

        # Heartbeats go to the active view only: with a heartbeat every 200 ms a node hears at
        # most 2 x 5 x 5 a second (the pings of the peers that count it active and the replies
        # to its own), where a full mesh of twenty would be 2 x 19 x 5 = 190.
        before = {n.did: metric(n.metrics(), 'mesh_net_messages_total', type='heartbeat') or 0
                  for n in nodes}
        started = time.monotonic()
        time.sleep(3)
        seconds = time.monotonic() - started
        for n in nodes:
            rate = ((metric(n.metrics(), 'mesh_net_messages_total', type='heartbeat') or 0)
                    - before[n.did]) / seconds
            self.assertLess(rate, 2 * ACTIVE_VIEW * 5 * 1.3, f'{n.name} heard {rate:.0f} '
                            'heartbeats a second: more than its active view sends')

        # Two jobs from every node; each runs on one executor, exactly once, and succeeds.
        jobs = [(n, self.remote_job(n, args=(SMALL,))) for n in nodes + nodes]
        executors = {}
        for n, job in jobs:
            done = n.wait_job(job['id'], timeout=120)
            self.assertEqual(done['state'], 'succeeded', done)
            self.assertRegex(n.output(job['id']), DONE_RE)
            self.assertNotEqual(done['executor'], n.did)
            executors[done['executor']] = executors.get(done['executor'], 0) + 1
        runs = {}
        for n in nodes:
            for j in n.list_all():
                if j.get('placement') == 'assigned':
                    runs[j['id']] = runs.get(j['id'], 0) + 1
        self.assertEqual(sorted(runs), sorted(job['id'] for _, job in jobs))
        self.assertEqual(set(runs.values()), {1}, 'a job ran on two executors')
        self.assertGreaterEqual(len(executors), 8, f'forty jobs went to few executors: '
                                f'{executors}')


class BeyondTheViewTest(MeshTest):
    """A job only a node outside the submitter's neighbourhood can run is found through the
    passive view: with active views of one peer (the nodes pair up) and announcements of one
    hop, no relay of the submitter's widening rounds leaves its own pair. Every node is given the
    earlier ones as bootstrap addresses, so its passive view knows nodes beyond its pair."""

    def test_a_job_no_neighbour_can_run_is_asked_beyond_the_view(self):
        config = MESH_CONFIG + 'active_view = 1\npassive_view = 8\nannounce_ttl = 1\n'
        gpu = self.start_node('gpu', '--capability', 'gpu', config=config)
        everyone = [gpu]
        for i in range(5):
            everyone.append(self.start_node(f'n{i}', config=config, peers=list(everyone)))

        def paired():
            listed = views(everyone)
            partner, passive = {}, {}
            for did, v in listed.items():
                alive = [p['did'] for p in v['peers'] if p['state'] == 'alive']
                if len(alive) != 1:
                    return None
                partner[did] = alive[0]
                passive[did] = {p['did'] for p in v['peers'] if p['state'] == 'passive'}
            # A submitter in a pair without the GPU node, which knows the GPU node beyond it.
            for n in everyone[1:]:
                if (partner[n.did] != gpu.did and partner.get(partner[n.did]) == n.did
                        and gpu.did in passive[n.did]):
                    return n
            return None

        submitter = wait_until(paired, 60, 'the nodes to pair up in active views of one, a pair '
                               'without the GPU node knowing it in its passive view',
                               interval=0.2)
        job = self.remote_job(submitter, args=['20000'], requirements={'capabilities': ['gpu']})
        done = submitter.wait_job(job['id'], timeout=60)
        self.assertEqual(done['state'], 'succeeded', done)
        self.assertEqual(done['executor'], gpu.did)
        self.assertRegex(submitter.output(job['id']), DONE_RE)
        history = submitter.history(job['id'])
        beyond = [b for b in history if b['phase'] == 'asked_beyond']
        self.assertEqual(len(beyond), 1, [b['phase'] for b in history])
        self.assertIn('no bid in 3 rounds', beyond[0]['detail']['why'])
        self.assertNotIn(submitter.did, beyond[0]['detail']['asked'])
        self.assertGreaterEqual(
            metric(submitter.metrics(), 'mesh_market_announcements_beyond_total') or 0, 1)


class SimValidationTest(MeshTest):

    def run_meshsim(self):
        out = os.path.join(self.tmp, 'sim')
        r = subprocess.run([MESHSIM, SCENARIO, '--out', out, '--no-plots'], capture_output=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r)
        with open(os.path.join(out, 'summary.json')) as f:
            return json.load(f), r.stdout.decode()

    def run_meshd(self, jobs, rate):
        """The scenario's workload on five real meshd: returns per-job ends and assignments."""
        config = MESH_CONFIG + 'active_view = 4\nenough_bids = 4\n'
        flags = ('--max-concurrent', '2')
        a = self.start_node('a', *flags, config=config)
        others = [self.start_node(name, *flags, peers=[a], config=config) for name in 'bcd']
        liar = self.start_node('liar', *flags, '--fault', 'lie', peers=[a], config=config)
        nodes = [a, *others, liar]
        self.wait_mesh(nodes)
        reference = a.submit_spec({'module': a.module('progress'), 'args': [SMALL],
                                   'placement': 'local'})
        self.assertEqual(a.wait_job(reference['id'])['state'], 'succeeded')
        honest_output = a.output(reference['id'])
        submitted = []
        started = time.monotonic()
        for i in range(jobs):
            node = nodes[i % len(nodes)]
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            job = node.submit_spec({'module': node.module('progress'), 'args': [SMALL],
                                    'placement': 'remote', 'verification': 'replicate(3)'})
            submitted.append((node, job['id']))
        ends, assigned = [], {}
        for node, job_id in submitted:
            done = node.wait_job(job_id, timeout=180)
            blocks = node.history(job_id)
            ends.append({'state': done['state'], 'right': node.output(job_id) == honest_output
                         if done['state'] == 'succeeded' else None,
                         'ended': sum(b['phase'] in ('completed', 'failed', 'cancelled')
                                      for b in blocks)})
            for b in blocks:
                if b['phase'] == 'assigned':
                    did = b['detail']['executor']
                    assigned[did] = assigned.get(did, 0) + 1
        paid_to_liar = 0
        for node in nodes:
            entries = self.cli_json(node, 'ledger', 'history', '--did', liar.did,
                                    '--limit', '1000')['entries']
            paid_to_liar += sum(p['amount'] for e in entries if e['kind'] == 'pay'
                                for p in e['postings'] if p['account'] == liar.did)
        return ends, assigned, liar.did, paid_to_liar

    def test_meshsim_and_real_meshd_agree_on_a_small_scenario(self):
        sim, text = self.run_meshsim()
        jobs = sim['jobs_submitted']
        self.assertEqual(jobs, 200, text)
        ends, assigned, liar, paid_to_liar = self.run_meshd(jobs, rate=20)

        # Every job ends once, the same jobs fail (none), no wrong result is accepted.
        self.assertEqual((sim['jobs_completed'], sim['jobs_failed'], sim['jobs_waiting'],
                          sim['jobs_completed_twice']), (jobs, 0, 0, 0), text)
        self.assertEqual(sim['wrong_results_accepted'], 0, text)
        self.assertEqual([e['state'] for e in ends], ['succeeded'] * jobs)
        self.assertEqual([e['ended'] for e in ends], [1] * jobs, 'a job ended twice')
        self.assertTrue(all(e['right'] for e in ends), 'a wrong result was accepted')

        # The liar is never paid.
        self.assertEqual(sim['credits_paid_by_role'].get('liar', 0), 0, text)
        self.assertEqual(paid_to_liar, 0)

        # The replicas are spread: every honest executor has a share (see the module's doc for
        # why meshd's is coarser), the liar shut out after its first lies were outvoted.
        honest = [n for did, n in assigned.items() if did != liar]
        self.assertEqual(len(honest), 4, assigned)
        mean = sum(honest) / len(honest)
        real = {'max_over_mean': max(honest) / mean, 'min_over_mean': min(honest) / mean,
                'liar_share': assigned.get(liar, 0) / sum(assigned.values())}
        by_role = sim['assignments_by_role']
        simulated = dict(sim['honest_assignments'],
                         liar_share=by_role.get('liar', 0) / sum(by_role.values()))
        sys.stderr.write(f'assignments: meshsim {simulated}, meshd {real} ({assigned})\n')
        for side, figures, least, most in (('meshsim', simulated, 0.5, 1.6),
                                           ('meshd', real, 0.01, 2.0)):
            self.assertLessEqual(figures['max_over_mean'], most, (side, figures))
            self.assertGreaterEqual(figures['min_over_mean'], least, (side, figures))
            self.assertLess(figures['liar_share'], 0.1, (side, figures))


def main():
    import argparse
    global MESHSIM, SCENARIO
    parser = argparse.ArgumentParser(add_help=False)
    for flag in ('--meshd', '--mesh', '--meshsim', '--examples', '--scenario'):
        parser.add_argument(flag, required=True)
    args, rest = parser.parse_known_args()
    base.MESHD, base.MESH, base.EXAMPLES = (os.path.abspath(args.meshd),
                                            os.path.abspath(args.mesh),
                                            os.path.abspath(args.examples))
    MESHSIM, SCENARIO = os.path.abspath(args.meshsim), os.path.abspath(args.scenario)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
