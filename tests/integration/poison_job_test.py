#!/usr/bin/env python3
"""Poison jobs and the CLI's exit status for failed jobs (issue 13: finding 2's restart part,
finding 9's first item), against real processes. Standard library only; the process and HTTP
helpers come from node_api_test.py.

Usage: poison_job_test.py --meshd PATH --mesh PATH --examples DIR [unittest arguments...]

- A job that the node dies under (kill -9 of meshd and its workers while the job runs) is taken
  up again by the restarted node at most twice; the third restart fails it with "the node
  stopped while running this job (2 times); not retried", and the node keeps serving.
- An executor that dies twice running a delegated job (kill -9 of meshd and its worker) fails
  that job at its second restart and declines the module from then on, with a reason that
  `mesh job --explain` shows on the submitter.
- `mesh job` exits non-zero (1, "other") for a job that failed after a clean run (outcome ok,
  e.g. its output could not be stored), which it reported as success before.
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the import below
import node_api_test as base  # noqa: E402  (MESHD, MESH and EXAMPLES are set in main())
from mesh_process_test import MeshTest  # noqa: E402
from node_api_test import Meshd, wait_until  # noqa: E402

NOT_RETRIED = 'the node stopped while running this job (2 times); not retried'


def clean_env():
    """The caller's environment without anything that points the CLI at another node."""
    return {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}


class PoisonJobTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='mesh_poison.')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data_dir = os.path.join(self.tmp, 'data')

    def test_a_job_the_node_dies_under_is_retried_twice_then_fails(self):
        node = Meshd(self.data_dir, ('--engine', 'interp', '--max-concurrent', '1'))
        self.addCleanup(node.kill)
        node.start()
        job_id = node.submit_loop()['id']
        for death in range(1, 4):
            running = node.wait_state(job_id, 'running')
            self.assertEqual(running['attempts'], death)
            # kill -9: meshd and the worker running the job (a real crash of the node takes
            # the job's run with it; a worker left spinning would only slow the test down).
            node.kill()
            node.start()
        failed = node.wait_job(job_id, timeout=30)
        self.assertEqual(failed['state'], 'failed', failed)
        self.assertEqual(failed['reason'], NOT_RETRIED)
        self.assertEqual(failed['outcome'], 'crashed')
        self.assertEqual(failed['attempts'], 3, 'not run a fourth time')

        # The node keeps serving: its health, and a new job.
        self.assertEqual(node.info()['stats']['running'], 0)
        hello = node.submit('hello', wait='30s')
        self.assertEqual(hello['state'], 'succeeded', hello)

        # The history says what happened, and the CLI exits with the outcome's status (19,
        # "crashed"), not 0.
        r = node.call('GET', f'/v1/jobs/{job_id}/history')
        self.assertEqual(r.status, 200, r)
        body = r.json()
        blocks = body['blocks'] if isinstance(body, dict) else body
        phases = [b['phase'] for b in blocks]
        self.assertEqual(phases.count('requeued'), 2, phases)
        self.assertEqual(phases[-1], 'failed', phases)
        env = dict(clean_env(), MESH_TOKEN=node.token)
        r = subprocess.run([base.MESH, '--data-dir', self.data_dir, 'job', job_id,
                            '--node', node.url], capture_output=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 19, r)
        self.assertIn(NOT_RETRIED.encode(), r.stdout + r.stderr)

        # Final: one more restart does not take it up again.
        node.kill()
        node.start()
        self.assertEqual(node.job(job_id)['state'], 'failed')


class ExecutorPoisonTest(MeshTest):
    """A submitter A and one executor B (which bootstraps from A); B is SIGKILLed twice while it
    runs A's job."""

    def test_an_executor_refuses_a_module_it_died_with_twice(self):
        a = self.start_node('a')
        b = self.start_node('b', '--max-concurrent', '1', peers=[a])
        self.wait_mesh([a, b])
        # Fuel enough to run for minutes on interp, at a price within the default max_price.
        loop = {'module': a.module('loop'), 'placement': 'remote',
                'limits': {'fuel': 10**11, 'wall_time_ms': 120000}}
        job_id = a.submit_spec(loop)['id']

        def running_on_b():
            r = b.call('GET', f'/v1/jobs/{job_id}')
            return r.status == 200 and r.json()['state'] == 'running'

        try:
            wait_until(running_on_b, 20, f'job {job_id} to run on B', interval=0.02)
        except AssertionError as e:
            raise AssertionError(f'{e}; explain on A: {a.explain(job_id)}') from None
        b.kill()
        b.start()
        # B takes the job up again by itself (it is in B's jobs.db), and dies under it again.
        wait_until(running_on_b, 20, f'job {job_id} to run on B again', interval=0.02)
        self.assertEqual(b.job(job_id)['attempts'], 2)
        b.kill()
        b.start()
        module = a.module('loop')
        on_b = b.wait_job(job_id, timeout=20)
        self.assertEqual(on_b['state'], 'failed', on_b)
        self.assertIn(f'module {module} crashed this node 2 times', on_b['reason'])
        self.assertEqual(on_b['attempts'], 2, 'not run a third time')

        # From now on B declines the module: a new job's round on A says so, and `mesh job
        # --explain` prints it.
        self.wait_mesh([a, b])
        second = a.submit_spec(dict(loop, args=['again']))['id']

        def refused_round():
            for round_ in a.explain(second)['rounds']:
                for d in round_.get('declines', []):
                    if d['executor'] == b.did and d['code'] == 'module_refused':
                        return d
            return None

        decline = wait_until(refused_round, 20, 'B to decline the module', interval=0.05)
        self.assertIn(f'module {module} crashed this node 2 times', decline['message'])
        self.assertIn('refuses it until', decline['message'])
        r = subprocess.run([base.MESH, '--data-dir', os.path.join(self.tmp, 'cli'), 'job',
                            second, '--explain', '--node', a.url], capture_output=True,
                           timeout=60, env=dict(clean_env(), MESH_TOKEN=a.token))
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(f'module_refused: module {module} crashed this node 2 times',
                      r.stdout.decode())
        self.assertEqual(a.job(second)['state'], 'queued', 'no executor: it waits for one')
        self.assertEqual(b.info()['stats']['running'], 0)


class FakeNode(http.server.BaseHTTPRequestHandler):
    """Answers GET /v1/jobs/{id} with the job the test put in `JOBS`."""
    JOBS = {}

    def do_GET(self):  # noqa: N802 (the http.server naming)
        job_id = self.path.split('?')[0].rsplit('/', 1)[-1]
        job = self.JOBS.get(job_id)
        body = json.dumps(job if job else {'code': 'not_found', 'message': 'no job'}).encode()
        self.send_response(200 if job else 404)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class CliExitTest(unittest.TestCase):
    """`mesh job` on jobs as a node reports them (a fake node serves them: a job whose output
    could not be stored cannot be made on purpose on a real one)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='mesh_poison_cli.')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), FakeNode)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'

    def exit_status(self, job):
        job = dict({'spec': {'module': 'bafkreimodule'}, 'attempts': 1}, **job)
        FakeNode.JOBS[job['id']] = job
        env = dict(clean_env(), MESH_TOKEN='test-token')
        r = subprocess.run([base.MESH, '--data-dir', os.path.join(self.tmp, 'data'), 'job',
                            job['id'], '--node', self.url], capture_output=True, timeout=60,
                           env=env)
        return r.returncode, r

    def test_failed_with_outcome_ok_is_not_success(self):
        job = {'id': 'bafkreifailedok', 'state': 'failed', 'outcome': 'ok', 'exit_code': 0,
               'reason': 'the job ran but its output could not be stored: disk full'}
        code, r = self.exit_status(job)
        self.assertEqual(code, 1, r)

    def test_other_states_keep_their_status(self):
        cases = [({'state': 'succeeded', 'outcome': 'ok', 'exit_code': 0}, 0),
                 ({'state': 'failed', 'outcome': 'ok', 'exit_code': 3}, 10),
                 ({'state': 'failed', 'outcome': 'trap', 'exit_code': 0}, 11),
                 ({'state': 'failed', 'outcome': 'crashed', 'exit_code': 0}, 19),
                 ({'state': 'failed', 'reason': 'module could not be loaded'}, 1),
                 ({'state': 'cancelled'}, 9)]
        for n, (job, want) in enumerate(cases):
            job = dict(job, id=f'bafkreicase{n}')
            code, r = self.exit_status(job)
            self.assertEqual(code, want, (job, r))


if __name__ == '__main__':
    base.main()  # sets base.MESHD, MESH and EXAMPLES, then runs this module's tests
