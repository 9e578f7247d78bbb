"""Integration tests of mesh_sdk.Client against a real meshd.

A class-wide meshd runs alone (--no-mesh, interpreter engine) on a temporary data dir and a free
port. Paths come from the environment, as ctest sets them (tests/integration/CMakeLists.txt):
MESH_MESHD (the meshd binary) and MESH_EXAMPLES (the directory of the example .wasm modules).
Without them the tests fail at once, saying what to set (a silent skip would hide a broken run).
Nothing sleeps to synchronise: waits use the API's long poll (Client.wait) or poll with a
deadline.
"""

import base64
import hashlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from unittest import mock

import mesh_sdk
from mesh_sdk import Client

MESHD = os.environ.get('MESH_MESHD')
EXAMPLES = os.environ.get('MESH_EXAMPLES')
HELLO = b'hello, mesh\n'
LONG = {'fuel': 10**15, 'wall_time_ms': 600_000}  # a `loop` job that runs until cancelled


def cid_of(data):
    """The CIDv1 (raw codec, sha2-256, base32) of `data`, computed independently of the node."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return 'b' + base64.b32encode(raw).decode('ascii').lower().rstrip('=')


# A small tree (a/x.txt "one", b.txt "two!", l -> a/x.txt) and what examples/dir_sum.c writes
# for it.
DIR_SUM_SUMMARY = (b'a/\na/x.txt 3 322\nb.txt 4 379\nl -> a/x.txt\n'
                   b'total: 2 files, 7 bytes, sum 701\n')


def make_sample_tree(root):
    os.makedirs(os.path.join(root, 'a'))
    with open(os.path.join(root, 'a', 'x.txt'), 'wb') as f:
        f.write(b'one')
    with open(os.path.join(root, 'b.txt'), 'wb') as f:
        f.write(b'two!')
    os.symlink('a/x.txt', os.path.join(root, 'l'))


def example(name):
    return os.path.join(EXAMPLES, name + '.wasm')


def wait_until(predicate, timeout=30.0, what='the condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(0.02)


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def log_tail(log_path):
    with open(log_path, 'rb') as f:
        return f.read()[-4000:].decode('utf-8', 'replace')


def launch_meshd(data_dir, log_path, flags):
    """Starts meshd on `data_dir` (a free API port, the interpreter engine, `flags`) and returns
    (process, API URL) once it printed that it is ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}
    with open(log_path, 'wb') as log:
        proc = subprocess.Popen(
            [MESHD, '--data-dir', data_dir, '--listen', '127.0.0.1:0', '--engine', 'interp',
             '--log-level', 'warn', *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
            start_new_session=True)  # its own group: its workers end with it
    lines = queue.Queue()

    def pump():
        with proc.stdout:
            for raw in proc.stdout:
                lines.put(raw.decode('utf-8', 'replace'))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stop_meshd(proc)
            raise AssertionError(f'meshd was not ready within 60 s:\n{log_tail(log_path)}') from None
        if line is None:
            raise AssertionError(f'meshd exited with {proc.wait()}:\n{log_tail(log_path)}')
        if line.startswith('meshd ready at '):
            return proc, line.split()[3]


def stop_meshd(proc):
    """SIGTERM (the node drains and exits 0), then SIGKILL of its group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (MESHD and EXAMPLES):
            raise RuntimeError('set MESH_MESHD (the meshd binary) and MESH_EXAMPLES (the example '
                               '.wasm directory) to run the SDK against a real meshd; '
                               '`ctest -R python_sdk` sets both')
        cls.tmp = tempfile.mkdtemp(prefix='mesh_sdk_test.')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.data_dir = os.path.join(cls.tmp, 'data')
        cls.log_path = os.path.join(cls.tmp, 'meshd.log')
        cls.proc, cls.url = launch_meshd(cls.data_dir, cls.log_path,
                                         ['--no-mesh', '--max-concurrent', '2'])
        cls.addClassCleanup(cls.stop_node)
        with open(os.path.join(cls.data_dir, 'api.token')) as f:
            cls.token = f.read().strip()
        cls.client = Client(cls.url, cls.token)

    @classmethod
    def stop_node(cls):
        stop_meshd(cls.proc)

    @classmethod
    def log(cls):
        return log_tail(cls.log_path)

    def long_job(self):
        """A running `loop` job, cancelled when the test ends whatever happens."""
        job = self.client.submit(example('loop'), limits=LONG)
        self.addCleanup(self.cancel_quietly, job.id)
        wait_until(lambda: self.client.job(job.id).state == 'running', what=f'{job.id} to run')
        return job

    def cancel_quietly(self, job_id):
        try:
            self.client.cancel(job_id)
        except mesh_sdk.FailedPrecondition:
            pass  # already ended

    # --- blobs ---------------------------------------------------------------------------------

    def test_upload_and_get_round_trip(self):
        data = os.urandom(40_000)
        cid = self.client.upload(data)
        self.assertEqual(cid, cid_of(data), 'the CID is the CIDv1 of the bytes')
        self.assertEqual(self.client.get_blob(cid), data)
        self.assertEqual(self.client.upload(bytearray(data)), cid, 'same bytes, same CID')
        path = os.path.join(self.tmp, 'blob.bin')
        with open(path, 'wb') as f:
            f.write(data)
        self.assertEqual(self.client.upload(path), cid, 'a path uploads the file')
        self.assertEqual(self.client.upload(b''), cid_of(b''))
        self.assertEqual(self.client.get_blob(cid_of(b'')), b'')
        with self.assertRaises(TypeError):
            self.client.upload(12)

    def test_upload_dir_names_the_tree(self):
        with tempfile.TemporaryDirectory() as src:
            make_sample_tree(src)
            cid = self.client.upload_dir(src)
            self.assertEqual(cid, self.client.upload_dir(src), 'the same tree, the same CID')
            manifest = self.client.get_blob(cid)
            self.assertEqual([e['path'] for e in mesh_sdk.tree.safe_entries(manifest, cid)],
                             ['a', 'a/x.txt', 'b.txt', 'l'])
        with self.assertRaises(mesh_sdk.InvalidArgument):
            self.client._json('POST', '/v1/blobs/dir',
                              {'entries': [{'path': '../x', 'kind': 'dir'}]}, auth=True)
        with self.assertRaises(mesh_sdk.FailedPrecondition):
            self.client._json('POST', '/v1/blobs/dir', {'entries': [
                {'path': 'f', 'kind': 'file', 'cid': cid_of(b'never uploaded')}]}, auth=True)

    # Issue 17, end to end: passes once the sandbox serves mounts and reads the output directory
    # back (the WASI filesystem and the worker protocol, merged beside this).
    def test_a_job_reads_a_mounted_tree_and_writes_an_output_tree(self):
        with tempfile.TemporaryDirectory() as src:
            make_sample_tree(src)
            job = self.client.submit(example('dir_sum'), mounts={'/data': src},
                                     output_dir='/out')
            self.assertEqual(job.spec['mounts'][0]['path'], '/data')
            done = self.client.wait(job.id, timeout=120)
            self.assertEqual(done.state, 'succeeded', done.reason)
            self.assertEqual(self.client.output(done.id), b'2 files, 7 bytes, sum 701\n')
            self.assertTrue(done.files_cid)
            self.assertEqual(self.client.output_files(done.id), {'summary.txt': DIR_SUM_SUMMARY})
            dest = os.path.join(self.tmp, 'dir_sum_out')
            self.client.output_files(done.id, dest)
            with open(os.path.join(dest, 'summary.txt'), 'rb') as f:
                self.assertEqual(f.read(), DIR_SUM_SUMMARY)

    def test_unknown_and_bad_blobs(self):
        with self.assertRaises(mesh_sdk.NotFound) as cm:
            self.client.get_blob(cid_of(b'never uploaded ' + os.urandom(8)))
        self.assertEqual((cm.exception.status, cm.exception.code), (404, 'not_found'))
        with self.assertRaises(mesh_sdk.InvalidArgument) as cm:
            self.client.get_blob('not-a-cid')
        self.assertEqual(cm.exception.status, 400)
        self.assertIn('CID', cm.exception.message)

    # --- jobs ----------------------------------------------------------------------------------

    def test_hello_succeeds_with_its_output(self):
        job = self.client.submit(example('hello'), labels={'test': 'hello'})
        self.assertIsInstance(job, mesh_sdk.Job)
        self.assertIn(job.state, mesh_sdk.TERMINAL_STATES + ('queued', 'running'))
        done = self.client.wait(job.id, timeout=60)
        self.assertEqual(done.id, job.id)
        self.assertEqual(done.state, 'succeeded', done.reason)
        self.assertTrue(done.ok and done.done)
        self.assertEqual(done.exit_code, 0)
        self.assertGreater(done.fuel_used, 0)
        self.assertEqual(done.labels, {'test': 'hello'})
        self.assertEqual(done.output_cid, cid_of(HELLO))
        self.assertEqual(self.client.output(job.id), HELLO)
        self.assertEqual(self.client.get_blob(done.output_cid), HELLO)
        self.assertEqual(done.raw['id'], job.id, 'the raw answer is kept')
        self.assertEqual(self.client.job(job.id).state, 'succeeded')

    def test_echo_copies_its_inputs(self):
        with open(example('echo'), 'rb') as f:
            module = f.read()
        second = self.client.upload(b'second input\n')
        path = os.path.join(self.tmp, 'third.txt')
        with open(path, 'wb') as f:
            f.write(b'third\n')
        job = self.client.submit(module, inputs=[b'first\n', second, path])
        done = self.client.wait(job.id, timeout=60)
        self.assertEqual(done.state, 'succeeded', done.reason)
        self.assertEqual(self.client.output(job.id), b'first\nsecond input\nthird\n',
                         'stdin is the inputs concatenated, in order')
        self.assertEqual(done.spec['module'], cid_of(module))
        self.assertEqual(done.spec['inputs'][1], second)
        # A single input need not be wrapped in a list.
        single = self.client.wait(self.client.submit(module, inputs=b'only').id, timeout=60)
        self.assertEqual(self.client.output(single.id), b'only')
        # A job's blobs read through the job (how a user who is not an admin reads them).
        self.assertEqual(self.client.get_blob(done.output_cid, job=job.id),
                         b'first\nsecond input\nthird\n')

    def test_me_is_the_tokens_user(self):
        me = self.client.me()
        self.assertEqual((me['name'], me['role']), ('admin', 'admin'))
        self.assertEqual(me['did'], self.client.node()['did'], 'api.token signs as the node')

    def test_a_trap_fails_with_its_reason(self):
        done = self.client.wait(self.client.submit(example('trap'), args=['unreachable']).id,
                                timeout=60)
        self.assertEqual(done.state, 'failed')
        self.assertFalse(done.ok)
        self.assertEqual(done.outcome, 'trap')
        self.assertTrue(done.reason, 'a failed job says why')
        exited = self.client.wait(self.client.submit(example('trap'), args=['exit42']).id,
                                  timeout=60)
        self.assertEqual(exited.state, 'failed')
        self.assertEqual(exited.exit_code, 42)

    def test_malformed_module_is_a_failed_job(self):
        # The node stores any bytes as a blob; it is the run that finds they are not WASM.
        done = self.client.wait(self.client.submit(b'this is not wasm').id, timeout=60)
        self.assertEqual(done.state, 'failed')
        self.assertEqual(done.outcome, 'invalid_module')
        self.assertIn('invalid module', done.reason)

    def test_bad_submissions_raise(self):
        missing = cid_of(b'a module nobody uploaded ' + os.urandom(8))
        with self.assertRaises(mesh_sdk.FailedPrecondition) as cm:
            self.client.submit(missing)
        self.assertEqual(cm.exception.status, 409)
        self.assertIn(missing, cm.exception.message)
        hello = self.client.upload(example('hello'))
        with self.assertRaises(mesh_sdk.InvalidArgument) as cm:
            self.client.submit(hello, priority=1000)
        self.assertIn('priority', cm.exception.message)
        with self.assertRaises(mesh_sdk.InvalidArgument):
            self.client.submit(hello, limits={'fuel': -1})
        with self.assertRaises(mesh_sdk.InvalidArgument):
            self.client.submit(hello, placement='somewhere')
        with self.assertRaises(FileNotFoundError):
            self.client.submit(os.path.join(self.tmp, 'no-such-module.wasm'))

    def test_unknown_job_is_not_found(self):
        unknown = cid_of(b'no such job ' + os.urandom(8))
        for call in (self.client.job, self.client.output, self.client.cancel,
                     self.client.history, self.client.explain, self.client.wait):
            with self.assertRaises(mesh_sdk.NotFound, msg=call.__name__) as cm:
                call(unknown)
            self.assertIn(unknown, cm.exception.message, call.__name__)
            self.assertIn(unknown, str(cm.exception), call.__name__)

    def test_cancel_a_running_job(self):
        job = self.long_job()
        with self.assertRaises(mesh_sdk.FailedPrecondition):
            self.client.output(job.id)  # no output while it runs
        self.client.cancel(job.id)
        done = self.client.wait(job.id, timeout=30)
        self.assertEqual(done.state, 'cancelled')
        self.assertIn('cancel', done.reason)
        with self.assertRaises(mesh_sdk.FailedPrecondition) as cm:
            self.client.cancel(job.id)
        self.assertIn('already', cm.exception.message)
        with self.assertRaises(mesh_sdk.NotFound):
            self.client.output(job.id)  # it ended without output

    def test_wait_timeout_names_the_job(self):
        job = self.long_job()
        start = time.monotonic()
        with self.assertRaises(mesh_sdk.JobTimeout) as cm:
            self.client.wait(job.id, timeout=0.3)
        elapsed = time.monotonic() - start
        self.assertIsInstance(cm.exception, TimeoutError)
        self.assertIsInstance(cm.exception, mesh_sdk.MeshError)
        self.assertEqual((cm.exception.job_id, cm.exception.state), (job.id, 'running'))
        self.assertIn(job.id, str(cm.exception))
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 10)

    def test_idempotency_key_returns_the_first_job(self):
        key = 'sdk-test-' + os.urandom(6).hex()
        first = self.client.submit(example('hello'), idempotency_key=key)
        again = self.client.submit(example('hello'), idempotency_key=key)
        self.assertEqual(again.id, first.id)
        other = self.client.submit(example('hello'))
        self.assertNotEqual(other.id, first.id)

    def test_jobs_follows_the_cursor(self):
        ids = [self.client.submit(example('hello'), args=[str(i)]).id for i in range(3)]
        for job_id in ids:
            self.client.wait(job_id, timeout=60)
        everything = self.client.jobs()
        paged = self.client.jobs(page_size=1)
        self.assertEqual([j.id for j in paged], [j.id for j in everything],
                         'pages of 1 give the same list as one page')
        seqs = [j.seq for j in everything]
        self.assertEqual(seqs, sorted(seqs, reverse=True), 'newest first')
        self.assertEqual(len(set(seqs)), len(seqs))
        self.assertEqual([j.id for j in everything[:3]], ids[::-1])
        self.assertEqual([j.id for j in self.client.jobs(limit=2, page_size=1)], ids[:0:-1])
        succeeded = self.client.jobs(state='succeeded')
        self.assertTrue(set(ids) <= {j.id for j in succeeded})
        self.assertTrue(all(j.state == 'succeeded' for j in succeeded))
        with self.assertRaises(mesh_sdk.InvalidArgument):
            self.client.jobs(state='sleeping')

    def test_jobs_by_label_and_submitter_are_filtered_by_the_node(self):
        tag = 'run-' + os.urandom(4).hex()
        tagged = [self.client.submit(example('hello'), labels={'suite': tag, 'n': str(i)}).id
                  for i in range(3)]
        self.client.submit(example('hello'), labels={'suite': 'other'})
        self.assertEqual([j.id for j in self.client.jobs(label='suite=' + tag)], tagged[::-1])
        self.assertEqual([j.id for j in self.client.jobs(label='suite=' + tag, page_size=1)],
                         tagged[::-1], 'filtered pages follow the cursor')
        self.assertEqual([j.id for j in self.client.jobs(label='n=1')
                          if j.labels.get('suite') == tag], [tagged[1]])
        self.assertTrue(all('suite' in j.labels for j in self.client.jobs(label='suite')))
        me = self.client.job(tagged[0]).submitter
        self.assertIn(tagged[0], {j.id for j in self.client.jobs(submitter=me)})
        self.assertEqual(self.client.jobs(submitter='did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'), [])
        for bad in ({'label': '=x'}, {'submitter': 'nobody'}):
            with self.assertRaises(mesh_sdk.InvalidArgument):
                self.client.jobs(**bad)

    def test_events_of_a_job(self):
        job = self.client.submit(example('hello'))
        seen = []
        stream = self.client.events(after=0, job=job.id, timeout=30)
        try:
            for event in stream:
                seen.append(event)
                if event['type'] in ('job.succeeded', 'job.failed', 'job.cancelled'):
                    break
        finally:
            stream.close()
        types = [e['type'] for e in seen]
        self.assertEqual(types[0], 'job.queued', types)
        self.assertIn('job.running', types)
        self.assertEqual(types[-1], 'job.succeeded', types)
        self.assertTrue(all(e['job_id'] == job.id for e in seen))
        seqs = [e['seq'] for e in seen]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(seen[-1]['output_cid'], cid_of(HELLO))
        with self.assertRaises(mesh_sdk.InvalidArgument):
            next(self.client.events(after='soon'))

    def test_new_events_only_by_default(self):
        """Without `after`, the stream starts now: it shows a job submitted after it opened."""
        stream = self.client.events(timeout=30)
        got = queue.Queue()

        def read():
            try:
                for event in stream:
                    got.put(event)
            except Exception as e:  # reported to the test through the queue
                got.put(e)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # The stream connects on the reader's first next(); submit until one of ours shows up
        # after it, rather than guessing when it is connected.
        deadline = time.monotonic() + 30
        mine = set()
        while True:
            mine.add(self.client.submit(example('noop')).id)
            try:
                event = got.get(timeout=0.5)
            except queue.Empty:
                self.assertLess(time.monotonic(), deadline, 'no event came')
                continue
            if isinstance(event, Exception):
                raise event
            self.assertIn('type', event)
            if event.get('job_id') in mine:
                break
        for job_id in mine:
            self.client.wait(job_id, timeout=60)

    def test_a_split_job_merges_in_order_and_proves_every_chunk(self):
        # wordcount on each part of a CSV cut by the csv_split module (each part keeps the
        # header), the counts summed by the wordcount_merge module.
        csv = b'name,count\n' + b''.join(b'row %d,x y\n' % i for i in range(40))
        split = (mesh_sdk.SplitJob.wasm(example('csv_split'), parts=4)
                 .merge_wasm(example('wordcount_merge')))
        job = self.client.submit(example('wordcount'), inputs=[csv], split=split)
        job = self.client.wait(job.id, timeout=60)
        self.assertEqual(job.state, 'succeeded', job.reason)
        header = len(b'name,count\n')
        self.assertEqual(self.client.output(job.id),
                         b'44 124 %d\n' % (len(csv) + 3 * header))
        chunks = self.client.chunks(job.id)
        self.assertEqual((chunks['total'], chunks['done'], chunks['stage']), (4, 4, 'succeeded'))
        self.assertEqual([c['index'] for c in chunks['chunks']], [0, 1, 2, 3])
        root = chunks['merkle_root']
        for c in chunks['chunks']:
            proof = self.client.chunk_proof(job.id, c['index'])
            self.assertEqual(proof['output_cid'], c['output_cid'])
            self.assertTrue(mesh_sdk.verify_chunk_proof(proof, root))
            # The chunk's output, fetched and hashed here, is the leaf the proof is for.
            out = self.client.get_blob(c['output_cid'])
            self.assertEqual(cid_of(out), c['output_cid'])
            # Any other output does not fit this proof.
            other = dict(proof, output_cid=cid_of(out + b'tampered'))
            self.assertFalse(mesh_sdk.verify_chunk_proof(other, root))
        with self.assertRaises(mesh_sdk.InvalidArgument):
            self.client.chunk_proof(job.id, 4)
        with self.assertRaises(mesh_sdk.NotFound):
            self.client.chunks(self.client.submit(example('hello')).id)

    def test_a_split_job_with_bad_parts_is_refused(self):
        with self.assertRaises(ValueError):
            mesh_sdk.SplitJob.lines(0)
        bad = mesh_sdk.SplitJob.lines(2)
        bad.splitter['parts'] = 100001  # past the SDK's check: the node refuses it too
        with self.assertRaises(mesh_sdk.InvalidArgument) as e:
            self.client.submit(example('wordcount'), inputs=[b'a\n'], split=bad)
        self.assertIn('/split/splitter/parts', str(e.exception))

    def test_partial_outputs_can_be_read_before_the_job_ends(self):
        job = self.client.submit(example('progress'), args=['3000000'])
        self.addCleanup(self.cancel_quietly, job.id)
        seen = []

        def partial_while_running():
            seen[:] = self.client.partials(job.id)
            return bool(seen) and not self.client.job(job.id).done

        wait_until(partial_while_running, timeout=60, what='a partial output while the job runs')
        self.assertEqual(self.client.get_blob(seen[0]['cid']), b'partial 1\n')
        done = self.client.wait(job.id, timeout=120)
        self.assertEqual(done.state, 'succeeded', done.reason)
        partials = self.client.partials(job.id)
        self.assertEqual([p['index'] for p in partials], list(range(10)))
        self.assertEqual(b''.join(self.client.get_blob(p['cid']) for p in partials),
                         b''.join(b'partial %d\n' % i for i in range(1, 11)))
        checkpoints = self.client.checkpoints(job.id)
        self.assertEqual(len(checkpoints), 2)
        self.assertTrue(all(c['bytes'] == 24 and c['signed'] for c in checkpoints))
        with self.assertRaises(mesh_sdk.NotFound):
            self.client.partials('bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')

    def test_history_explain_node_and_ledger(self):
        done = self.client.wait(self.client.submit(example('hello')).id, timeout=60)
        self.assertTrue(self.client.history(done.id))
        self.assertTrue(self.client.explain(done.id))
        node = self.client.node()
        self.assertTrue(node['did'].startswith('did:key:'))
        self.assertEqual(node['engine'], 'interp')
        self.assertGreaterEqual(node['stats']['succeeded'], 1)
        balance = self.client.balance()
        self.assertEqual(balance['did'], node['did'])
        self.assertIsInstance(balance['available'], int)
        self.assertEqual(self.client.balance(node['did']), balance)
        stranger = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
        self.assertEqual(self.client.balance(stranger)['held'], 0)
        report = self.client.verify_ledger()
        self.assertTrue(report['ok'], report)
        entries = self.client.ledger_history()
        self.assertIsInstance(entries, list)
        self.assertEqual(len(entries), report['entries'])
        self.assertEqual(self.client.ledger_history(did=node['did'], limit=1), entries[:1])
        with self.assertRaises(mesh_sdk.NotFound) as cm:
            self.client.peers()  # a --no-mesh node has no peer table
        self.assertIn('no-mesh', cm.exception.message)

    # --- finding the node, tokens, an absent node ------------------------------------------------

    def test_finds_the_node_like_the_cli(self):
        clean = {k: v for k, v in os.environ.items() if k not in ('MESH_NODE', 'MESH_TOKEN')}
        with mock.patch.dict(os.environ, clean, clear=True):
            found = Client(data_dir=self.data_dir)
            self.assertEqual((found.url, found.token), (self.url, self.token))
            self.assertEqual(found.upload(b'found'), cid_of(b'found'))
            with mock.patch.dict(os.environ, {'MESH_DATA_DIR': self.data_dir}):
                self.assertEqual((Client().url, Client().token), (self.url, self.token))
            elsewhere = os.path.join(self.tmp, 'empty-dir')
            with mock.patch.dict(os.environ, {'MESH_NODE': self.url, 'MESH_TOKEN': self.token}):
                env_client = Client(data_dir=elsewhere)
                self.assertEqual((env_client.url, env_client.token), (self.url, self.token))
            explicit = Client('http://127.0.0.1:1', 'tok', data_dir=self.data_dir)
            self.assertEqual((explicit.url, explicit.token), ('http://127.0.0.1:1', 'tok'))
            self.assertEqual(Client(data_dir=elsewhere).url, mesh_sdk.DEFAULT_URL)
        with self.assertRaises(ValueError):
            Client('ftp://example.org')

    def test_wrong_or_missing_token(self):
        wrong = Client(self.url, 'not-the-token')
        for call in (lambda: wrong.upload(b'x'), lambda: wrong.submit(cid_of(HELLO)),
                     lambda: wrong.cancel(cid_of(b'any'))):
            with self.assertRaises(mesh_sdk.Unauthenticated) as cm:
                call()
            self.assertEqual((cm.exception.status, cm.exception.code), (401, 'unauthenticated'))
        self.assertIn('did', wrong.node(), 'the health route needs no token')
        # Every other read needs it (a job's env, args, inputs and outputs are not public).
        for call in (lambda: list(wrong.jobs()), lambda: wrong.job(cid_of(b'any')),
                     lambda: wrong.get_blob(cid_of(HELLO)), lambda: wrong.reputation(),
                     lambda: next(wrong.events(timeout=5))):
            with self.assertRaises(mesh_sdk.Unauthenticated) as cm:
                call()
            self.assertEqual(cm.exception.status, 401)
        with mock.patch.dict(os.environ, {}, clear=True):
            tokenless = Client(self.url, data_dir=os.path.join(self.tmp, 'no-token-here'))
        self.assertIsNone(tokenless.token)
        with self.assertRaises(mesh_sdk.Unauthenticated) as cm:
            tokenless.upload(b'x')
        self.assertIn('MESH_TOKEN', cm.exception.message)

    def test_a_node_that_is_not_running_is_unavailable(self):
        url = f'http://127.0.0.1:{free_port()}'
        absent = Client(url, 'token', timeout=5)
        for call in (absent.node, lambda: absent.upload(b'x'), lambda: absent.wait('bafkx'),
                     lambda: next(absent.events())):
            with self.assertRaises(mesh_sdk.Unavailable) as cm:
                call()
            self.assertIsInstance(cm.exception, ConnectionError)
            self.assertEqual(cm.exception.status, 0)
            self.assertIn(url, str(cm.exception))


if __name__ == '__main__':
    unittest.main()
