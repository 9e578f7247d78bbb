"""Tests of the job DSL (mesh_sdk.job): decorator syntax, parameter passing, merge, split jobs,
many threads on one definition, futures and their cancel, and errors that name the parameter.

JobDslCheckTest needs no node (everything it checks is refused before any I/O). JobDslNodeTest
runs the definitions against a real meshd started the way test_client.ClientTest starts one
(the same class methods, so MESH_MESHD and MESH_EXAMPLES are needed the same way).
"""

import concurrent.futures
import os
import subprocess
import sys
import threading
import time
import unittest
from unittest import mock

import mesh_sdk
from mesh_sdk import JobFailed, JobTypeError, JobValueError, SplitJob, dsl
from tests import test_client  # not its class by name: discovery would run its tests twice
from tests.test_client import HELLO, LONG, cid_of, example, wait_until

FAKE_MODULE = b'\0asm\1\0\0\0'  # bytes are never checked as WASM here; the node does that
A_CID = cid_of(b'some blob')


def wc(data):
    """What examples/wordcount.wasm prints for `data`: lines, words, bytes."""
    return [data.count(b'\n'), len(data.split()), len(data)]


class JobDslCheckTest(unittest.TestCase):
    """Decoration, binding and preparing: all local, no node."""

    def test_decorator_syntax_and_prepare(self):
        @mesh_sdk.job(module=FAKE_MODULE, limits={'fuel': 10**9}, labels={'team': 'a'},
                      args=['--x', 1])
        def shout(text: str, times: int = 2, *, sep: bytes = b' '):
            """Repeats the text."""
            return {'inputs': sep.join([text.encode()] * times),
                    'labels': {'times': str(times)}, 'limits': {'wall_time_ms': 5000}}

        self.assertIsInstance(shout, mesh_sdk.JobDefinition)
        self.assertEqual((shout.name, shout.__name__, shout.__doc__),
                         ('shout', 'shout', 'Repeats the text.'))
        self.assertEqual(list(shout.signature.parameters), ['text', 'times', 'sep'])
        base = {'module': FAKE_MODULE, 'args': ['--x', '1']}
        # positional, keyword, defaults; returned dicts merge into the definition's
        self.assertEqual(shout.prepare('hi'), {
            **base, 'inputs': [b'hi hi'], 'labels': {'team': 'a', 'times': '2'},
            'limits': {'fuel': 10**9, 'wall_time_ms': 5000}})
        self.assertEqual(shout.prepare('hi', 3, sep=b'-')['inputs'], [b'hi-hi-hi'])
        self.assertEqual(shout.prepare(times=1, text='yo')['inputs'], [b'yo'])
        # options() makes a new definition; the first is unchanged
        fast = shout.options(limits={'fuel': 5}, name='fast')
        self.assertEqual((fast.name, fast.prepare('a')['limits']),
                         ('fast', {'fuel': 5, 'wall_time_ms': 5000}))
        self.assertEqual(shout.prepare('a')['limits']['fuel'], 10**9)
        # bare decorator form with a name, and every kind of return
        named = mesh_sdk.job(lambda *xs: list(xs), module=A_CID, name='ids')
        self.assertEqual(named.name, 'ids')
        self.assertEqual(named.prepare(b'a', A_CID, bytearray(b'c'))['inputs'],
                         [b'a', A_CID, b'c'])
        self.assertEqual(named.prepare()['inputs'], [])
        path = os.path.abspath(__file__)
        self.assertEqual(mesh_sdk.job(module=A_CID)(lambda: path).prepare()['inputs'], [path])
        # Relative paths are made absolute: the file meant, wherever the process goes next
        relative = os.path.relpath(path)
        definition = mesh_sdk.job(module=relative)(lambda: relative)
        self.assertEqual((definition.module, definition.prepare()['inputs']), (path, [path]))
        self.assertEqual(mesh_sdk.job(module=A_CID)(lambda: None).prepare()['inputs'], [])

    def test_mesh_sdk_job_is_the_decorator_and_job_records_still_import(self):
        from mesh_sdk.job import TERMINAL_STATES, Job
        self.assertIs(Job, mesh_sdk.Job)
        self.assertEqual(TERMINAL_STATES, mesh_sdk.TERMINAL_STATES)
        self.assertIs(mesh_sdk.job, dsl.job)

    def assert_refused(self, cls, call, *needles):
        with self.assertRaises(cls) as cm:
            call()
        e = cm.exception
        self.assertIsInstance(e, mesh_sdk.InvalidArgument)
        self.assertIsInstance(e, TypeError if cls is JobTypeError else ValueError)
        for needle in needles:
            self.assertIn(needle, str(e))
        return e

    def test_bad_options_are_refused_at_decoration_naming_them(self):
        def define(**options):
            def wordcount(text):
                return text
            return mesh_sdk.job(**{'module': FAKE_MODULE, **options})(wordcount)

        cases = [
            (JobValueError, {'limits': {'fuel': -1}}, "limits['fuel'] must be a positive int"),
            (JobValueError, {'limits': {'fuel': 0}}, "limits['fuel']"),
            (JobTypeError, {'limits': {'fuel': '10'}}, "limits['fuel']"),
            (JobTypeError, {'limits': {'fuel': True}}, "limits['fuel']"),
            (JobValueError, {'limits': {'cpu': 1}}, "limits['cpu'] is not a limit"),
            (JobTypeError, {'limits': 10}, 'limits must be a dict'),
            (JobValueError, {'limits': {'memory_bytes': 5 << 30}}, "limits['memory_bytes']"),
            (JobValueError, {'verification': 'quorum'}, "verification 'quorum'"),
            (JobValueError, {'verification': 'replicate(10)'}, 'verification'),
            (JobTypeError, {'split': 'lines'}, 'split must be a SplitJob'),
            (JobValueError, {'module': '/no/such/module.wasm'}, "module '/no/such/module.wasm'"),
            (JobTypeError, {'module': 42}, 'module must be'),
            (JobTypeError, {'module': None}, 'module is required'),
            (JobValueError, {'module': b''}, 'module is empty'),
            (JobTypeError, {'args': '--flag'}, 'args must be a list'),
            (JobTypeError, {'args': ['ok', None]}, 'args[1]'),
            (JobTypeError, {'env': {'HOME': 1}}, "env['HOME']"),
            (JobValueError, {'env': {'A=B': 'x'}}, "env['A=B']"),
            (JobTypeError, {'labels': ['x']}, 'labels must be a dict'),
            (JobValueError, {'priority': 1000}, 'priority must be in -100..100'),
            (JobValueError, {'placement': 'moon'}, 'placement'),
            (JobValueError, {'requirements': {'gpus': 1}}, "requirements['gpus']"),
            (JobTypeError, {'deterministic': 'yes'}, 'deterministic'),
            (JobValueError, {'timeout': -1}, 'timeout'),
            (JobTypeError, {'client': 'http://127.0.0.1:7420'}, 'client must be'),
        ]
        for cls, options, needle in cases:
            with self.subTest(options=options):
                self.assert_refused(cls, lambda: define(**options), "job 'wordcount': ", needle)
        self.assert_refused(JobTypeError, lambda: mesh_sdk.job(module=A_CID)(42), 'function')
        self.assert_refused(JobTypeError, lambda: mesh_sdk.job(module=A_CID, name=''),
                            'name must be')

        async def coroutine():
            return b''
        self.assert_refused(JobTypeError, lambda: mesh_sdk.job(module=A_CID)(coroutine),
                            'coroutine')
        with self.assertRaises(TypeError) as cm:
            mesh_sdk.job(module=A_CID, fuel=10)  # an unknown option: Python names it
        self.assertIn('fuel', str(cm.exception))
        good = define()
        self.assert_refused(JobTypeError, lambda: good.options(fuel=1), "option 'fuel'")
        self.assert_refused(JobTypeError, lambda: good.options(idempotency_key='k'),
                            "option 'idempotency_key'")
        self.assert_refused(JobTypeError, lambda: good.options(name=3), 'name must be')
        self.assert_refused(JobValueError, lambda: good.options(limits={'fuel': -5}),
                            "limits['fuel']")
        self.assert_refused(JobTypeError, lambda: good.merge(3), 'merge')
        self.assert_refused(JobTypeError, lambda: good.merge(lambda: 0), 'one argument')

    def test_bad_arguments_are_refused_at_call_naming_the_parameter(self):
        @mesh_sdk.job(module=FAKE_MODULE)
        def wordcount(text: str, parts: int = 2, mode: str | None = None, *extra: bytes):
            if parts > 8:
                raise ValueError(f'parts must be at most 8, got {parts}')
            return text.encode()

        cases = [
            ((), {}, "missing a required argument: 'text'"),
            ((5,), {}, "parameter 'text' must be str, got int"),
            (('t', '2'), {}, "parameter 'parts' must be int, got str"),
            (('t',), {'parts': 2.5}, "parameter 'parts' must be int"),
            (('t', 2, 7), {}, "parameter 'mode' must be str | None"),
            (('t', 2, None, b'ok', 'no'), {}, 'parameter extra[1] must be bytes'),
            (('t',), {'colour': 1}, "unexpected keyword argument 'colour'"),
            (('t',), {'text': 'u'}, "multiple values for argument 'text'"),
        ]
        for args, kwargs, needle in cases:
            with self.subTest(args=args, kwargs=kwargs):
                e = self.assert_refused(JobTypeError, lambda: wordcount(*args, **kwargs),
                                        "job 'wordcount': ", needle)
                self.assertEqual(e.status, 0, 'found here, before anything was sent')

        plain = mesh_sdk.job(module=FAKE_MODULE)(lambda a, b=1: b'x')
        self.assert_refused(JobTypeError, lambda: plain(1, 2, 3),
                            'takes 2 positional argument(s) (a, b) but 3 were given')
        # The function's own errors come out as they are, with a note saying which job
        with self.assertRaises(ValueError) as cm:
            wordcount('t', 9)
        self.assertIn('parts must be at most 8', str(cm.exception))
        self.assertIn("job 'wordcount'", ' '.join(cm.exception.__notes__))

    def test_bad_returns_are_refused_naming_what(self):
        def returning(value):
            return mesh_sdk.job(module=FAKE_MODULE, name='prep')(lambda: value)

        cases = [
            (JobTypeError, 42, 'must return the inputs'),
            (JobValueError, 'plain text', "inputs[0] 'plain text' is neither an existing file "
                                          'nor a CID'),
            (JobTypeError, [b'a', 3], 'inputs[1] must be bytes'),
            (JobValueError, [b'x'] * 65, 'more than 64'),
            (JobValueError, {'inputs': b'', 'fuel': 1}, "returned a dict with 'fuel'"),
            (JobValueError, {'inputs': b'', 'limits': {'fuel': -1}},
             "the returned limits['fuel'] must be a positive int"),
            (JobTypeError, {'inputs': b'', 'split': 4}, 'the returned split must be a SplitJob'),
            (JobTypeError, {'inputs': b'', 'args': 'x'}, 'the returned args'),
        ]
        for cls, value, needle in cases:
            with self.subTest(value=str(value)[:40]):
                self.assert_refused(cls, returning(value), "job 'prep': ", needle)

    def test_the_default_client_is_made_once_whatever_the_threads(self):
        made = []

        class SlowClient(mesh_sdk.Client):
            def __init__(self, *args, **kwargs):
                time.sleep(0.05)  # widens the window in which a racing thread would make another
                super().__init__('http://127.0.0.1:1', 'token')
                made.append(self)

        self.addCleanup(mesh_sdk.set_default_client, None)
        mesh_sdk.set_default_client(None)
        barrier = threading.Barrier(16)
        got = []

        def ask():
            barrier.wait()
            got.append(mesh_sdk.default_client())

        with mock.patch.object(dsl, 'Client', SlowClient):
            threads = [threading.Thread(target=ask) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(len(made), 1)
        self.assertEqual(len(got), 16)
        self.assertTrue(all(c is made[0] for c in got))
        with self.assertRaises(JobTypeError):
            mesh_sdk.set_default_client('not a client')


    def test_a_call_never_waits_behind_a_long_job_while_workers_can_start(self):
        workers = dsl._Workers()
        ran, together = threading.Event(), threading.Barrier(3, timeout=30)
        workers.submit(ran.set)
        self.assertTrue(ran.wait(30))
        wait_until(lambda: workers._idle == 1, what='the worker to be idle')
        workers.submit(together.wait)  # a long job on the idle worker...
        workers.submit(together.wait)  # ...and another at once: a second worker must start
        together.wait()  # passes only if both tasks are running at the same time
        self.assertEqual(workers._threads, 2)

    def test_the_worker_pool_stops_growing_at_max_workers(self):
        workers = dsl._Workers()
        release, started = threading.Event(), threading.Semaphore(0)

        def task():
            started.release()
            release.wait(30)

        with mock.patch.object(dsl, 'MAX_WORKERS', 2):
            for _ in range(3):
                workers.submit(task)
        self.assertTrue(started.acquire(timeout=30) and started.acquire(timeout=30))
        self.assertEqual(workers._threads, 2)
        self.assertFalse(started.acquire(timeout=0.2), 'the third waits for a free worker')
        release.set()
        self.assertTrue(started.acquire(timeout=30), 'and runs once one is free')


class JobDslNodeTest(unittest.TestCase):
    """Definitions run on a real meshd (the node of ClientTest, started the same way)."""

    setUpClass = test_client.ClientTest.__dict__['setUpClass']
    stop_node = test_client.ClientTest.__dict__['stop_node']
    log = test_client.ClientTest.__dict__['log']

    def setUp(self):
        self.echo = mesh_sdk.job(module=example('echo'), client=self.client,
                                 limits={'fuel': 10**9})(lambda *parts: list(parts))

    def cancel_quietly(self, job_id):
        try:
            self.client.cancel(job_id)
        except mesh_sdk.FailedPrecondition:
            pass

    def test_a_plain_job_with_parameters_and_a_merge(self):
        @mesh_sdk.job(module=example('echo'), client=self.client, labels={'test': 'dsl'})
        def greet(name: str, greeting='hello', *, punctuation='!'):
            return [f'{greeting}, '.encode(), f'{name}{punctuation}\n'.encode()]

        future = greet('mesh')
        self.assertIsInstance(future, concurrent.futures.Future)
        self.assertEqual(future.result(timeout=60), b'hello, mesh!\n')
        self.assertTrue(future.done() and not future.cancelled() and not future.running())
        self.assertIsNone(future.exception())
        self.assertEqual((future.job.state, future.job.id, future.job.labels),
                         ('succeeded', future.job_id, {'test': 'dsl'}))
        self.assertEqual(future.submitted(), future.job_id)
        self.assertEqual(self.client.output(future.job_id), b'hello, mesh!\n')
        self.assertEqual(greet('you', 'hi', punctuation='?').result(60), b'hi, you?\n')
        self.assertEqual(greet(greeting='bye', name='all').result(60), b'bye, all!\n')

        @greet.merge
        def decode(output):
            return output.decode().strip().upper()

        self.assertIs(greet.merge_fn, decode)
        self.assertEqual(decode(b'x\n'), 'X', 'the merge function stays a function')
        self.assertEqual(greet('mesh').result(60), 'HELLO, MESH!')
        # A done callback gets the future, also when added after the end
        seen = []
        f = greet('cb')
        f.add_done_callback(lambda fut: seen.append(fut.result()))
        f.result(60)
        wait_until(lambda: seen, what='the done callback')
        f.add_done_callback(lambda fut: seen.append('late'))
        self.assertEqual(seen, ['HELLO, CB!', 'late'])

    def test_a_returned_idempotency_key_gives_the_first_job(self):
        key = 'dsl-' + os.urandom(6).hex()

        @mesh_sdk.job(module=example('echo'), client=self.client)
        def once(data: bytes, key: str | None = None):
            return {'inputs': data, 'idempotency_key': key} if key else data

        first = once(b'1', key)
        first.submitted(timeout=60)  # calls submit on workers: the order is set only after this
        again = once(b'2', key)
        self.assertEqual(first.result(60), b'1')
        self.assertEqual(again.result(60), b'1', 'the same key returns the first job')
        self.assertEqual(again.job_id, first.job_id)
        self.assertEqual(once(b'3').result(60), b'3')

    def test_returned_args_and_module_from_the_function(self):
        @mesh_sdk.job(module=example('hello'), client=self.client)
        def run(which: str, *args: str):
            return {'module': example(which), 'args': list(args), 'inputs': None}

        self.assertEqual(run('hello').result(60), HELLO)
        with self.assertRaises(JobFailed) as cm:
            run('trap', 'exit42').result(60)
        self.assertEqual((cm.exception.state, cm.exception.exit_code), ('failed', 42))
        self.assertIn('exit code 42', str(cm.exception))

    def test_a_split_job_merges_the_chunk_outputs_in_order(self):
        seen = []

        @mesh_sdk.job(module=example('wordcount'), client=self.client,
                      limits={'fuel': 10**10})
        def wordcount(text: bytes, parts: int = 3):
            return {'inputs': text, 'split': SplitJob.lines(parts)}

        @wordcount.merge
        def total(outputs):
            seen.append(outputs)
            counts = [[int(x) for x in o.split()] for o in outputs]
            return [sum(c[i] for c in counts) for i in range(3)]

        text = b''.join(b'line %d has %s\n' % (i, b'word ' * (i % 5)) for i in range(30))
        future = wordcount(text, parts=4)
        self.assertEqual(future.result(timeout=60), wc(text))
        outputs = seen[0]
        self.assertEqual(len(outputs), 4, 'one output per chunk')
        parts = mesh_sdk.split_lines(text, 4)  # the node's lines splitter cuts the same way
        self.assertEqual(outputs, [b'%d %d %d\n' % tuple(wc(p)) for p in parts],
                         'the chunk outputs, in chunk order')
        chunks = self.client.chunks(future.job_id)
        self.assertEqual((chunks['total'], chunks['stage']), (4, 'succeeded'))
        # Without a merge here, the result is the node's merged output (concatenated)
        plain = wordcount.options(name='wordcount_concat')
        self.assertIsNone(mesh_sdk.job(module=A_CID)(lambda: None).merge_fn)
        self.assertIs(plain.merge_fn, total, 'options() keeps the merge')
        concat = mesh_sdk.job(module=example('wordcount'), client=self.client,
                              split=SplitJob.lines(2))(lambda t: t)
        self.assertEqual(concat(text).result(60),
                         b''.join(b'%d %d %d\n' % tuple(wc(p)) for p in
                                  mesh_sdk.split_lines(text, 2)))

    def test_many_threads_calling_one_definition(self):
        @mesh_sdk.job(module=example('echo'), client=self.client)
        def tagged(thread: int, call: int, size: int = 100):
            return b'%d/%d:' % (thread, call) + os.urandom(size).hex().encode()

        @tagged.merge
        def parse(output):
            head, _, body = output.partition(b':')
            return tuple(int(x) for x in head.split(b'/')), len(body)

        threads, calls = 12, 4
        results, failures = {}, []
        barrier = threading.Barrier(threads)

        def worker(t):
            try:
                barrier.wait()
                futures = [tagged(t, c, size=10 * (c + 1)) for c in range(calls)]
                for c, f in enumerate(futures):
                    results[(t, c)] = f.result(timeout=120)
            except Exception as e:  # reported below, with the thread
                failures.append((t, e))

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for p in pool:
            p.start()
        for p in pool:
            p.join()
        self.assertEqual(failures, [])
        self.assertEqual(results, {(t, c): ((t, c), 20 * (c + 1))
                                   for t in range(threads) for c in range(calls)})

    def test_the_default_client_and_using(self):
        self.addCleanup(mesh_sdk.set_default_client, None)
        mesh_sdk.set_default_client(None)
        undirected = mesh_sdk.job(module=example('echo'))(lambda data: data)
        with mock.patch.dict(os.environ, {'MESH_NODE': self.url, 'MESH_TOKEN': self.token}):
            futures = []
            lock = threading.Lock()

            def call(i):
                f = undirected(b'%d' % i)
                with lock:
                    futures.append((i, f))

            pool = [threading.Thread(target=call, args=(i,)) for i in range(8)]
            for p in pool:
                p.start()
            for p in pool:
                p.join()
            for i, f in futures:
                self.assertEqual(f.result(60), b'%d' % i)
            self.assertEqual(len({id(f.client) for _, f in futures}), 1, 'one default client')
            self.assertEqual(futures[0][1].client.url, self.url)
        # A definition bound to a node that is not there fails in its future; using() redirects
        absent = mesh_sdk.Client('http://127.0.0.1:1', 'token', timeout=5)
        lost = undirected.using(absent)
        self.assertIsInstance(lost(b'x').exception(timeout=30), mesh_sdk.Unavailable)
        with self.assertRaises(mesh_sdk.Unavailable):
            lost(b'x').submitted(timeout=30)
        self.assertEqual(lost.using(self.client)(b'back').result(60), b'back')

    def test_a_failing_job_carries_its_reason(self):
        trap = mesh_sdk.job(module=example('trap'), client=self.client, name='trapper',
                            args=['unreachable'])(lambda: None)
        future = trap()
        e = future.exception(timeout=60)
        self.assertIsInstance(e, JobFailed)
        self.assertIsInstance(e, mesh_sdk.MeshError)
        self.assertEqual((e.state, e.outcome, e.job_id, e.name),
                         ('failed', 'trap', future.job_id, 'trapper'))
        self.assertTrue(e.reason)
        self.assertEqual(e.reason, self.client.job(future.job_id).reason)
        self.assertIn("job 'trapper'", str(e))
        self.assertIn(future.job_id, str(e))
        self.assertIn(e.reason, str(e))
        with self.assertRaises(JobFailed):
            future.result()
        self.assertEqual(future.job.state, 'failed')
        # Not WASM at all
        bad = mesh_sdk.job(module=b'not wasm', client=self.client)(lambda: None)
        self.assertEqual(bad().exception(60).outcome, 'invalid_module')
        # A spec the node refuses fails the future with the node's error
        refused = self.echo.options(module=cid_of(b'never uploaded ' + os.urandom(8)))
        self.assertIsInstance(refused(b'x').exception(60), mesh_sdk.FailedPrecondition)

    def test_an_error_in_the_merge_fails_the_future(self):
        @mesh_sdk.job(module=example('echo'), client=self.client)
        def numbers(text: str):
            return text.encode()

        @numbers.merge
        def parse(output):
            return int(output)

        self.assertEqual(numbers('12').result(60), 12)
        e = numbers('twelve').exception(60)
        self.assertIsInstance(e, ValueError)
        self.assertIn("merge of job 'numbers'", ' '.join(e.__notes__))

    def test_cancel_cancels_the_job_on_the_node(self):
        loop = mesh_sdk.job(module=example('loop'), client=self.client, limits=LONG)(
            lambda: None)
        future = loop()
        job_id = future.submitted(timeout=30)
        self.addCleanup(self.cancel_quietly, job_id)
        wait_until(lambda: self.client.job(job_id).state == 'running', what='the loop to run')
        self.assertTrue(future.running())
        called = []
        future.add_done_callback(called.append)
        self.assertTrue(future.cancel())
        self.assertTrue(future.cancelled() and future.done())
        self.assertEqual(called, [future])
        with self.assertRaises(concurrent.futures.CancelledError):
            future.result(timeout=1)
        self.assertEqual(self.client.wait(job_id, timeout=30).state, 'cancelled')
        self.assertTrue(future.cancel(), 'cancelling again is still cancelled')
        # wait() and as_completed() see a cancelled future as done
        done, _ = concurrent.futures.wait([future], timeout=5)
        self.assertEqual(done, {future})
        # A job that already ended is not cancelled: its result stands
        finished = self.echo(b'done')
        self.assertEqual(finished.result(60), b'done')
        self.assertFalse(finished.cancel())
        self.assertEqual(finished.result(), b'done')

    def test_cancel_during_the_submission_cancels_the_job_once_submitted(self):
        entered, release, ids = threading.Event(), threading.Event(), []
        client = self.client

        class HeldClient(mesh_sdk.Client):
            def submit(self, *args, **kwargs):
                entered.set()
                release.wait(30)  # the future is cancelled while this waits
                job = super().submit(*args, **kwargs)
                ids.append(job.id)
                return job

        held = HeldClient(client.url, client.token)
        loop = mesh_sdk.job(module=example('loop'), client=held, limits=LONG)(lambda: None)
        future = loop()
        self.assertTrue(entered.wait(30))
        self.assertIsNone(future.job_id)
        self.assertTrue(future.cancel())
        release.set()
        wait_until(lambda: ids, what='the held submission')
        self.addCleanup(self.cancel_quietly, ids[0])
        self.assertEqual(client.wait(ids[0], timeout=30).state, 'cancelled')
        self.assertTrue(future.cancelled())
        self.assertEqual(future.submitted(timeout=5), ids[0], 'it was submitted, then cancelled')
        # Cancelled before a worker took it: nothing is submitted at all
        tasks = []
        with mock.patch.object(dsl._workers, 'submit', tasks.append):
            queued = loop()
        self.assertTrue(queued.cancel())
        tasks[0]()  # the worker's turn comes
        self.assertEqual(len(ids), 1, 'the cancelled call was never submitted')
        with self.assertRaises(concurrent.futures.CancelledError):
            queued.submitted(timeout=5)
        with self.assertRaises(concurrent.futures.CancelledError):
            queued.result(timeout=5)

    def test_timeout_fails_the_future_and_cancels_the_job(self):
        loop = mesh_sdk.job(module=example('loop'), client=self.client, limits=LONG,
                            timeout=0.5)(lambda: None)
        future = loop()
        e = future.exception(timeout=30)
        self.assertIsInstance(e, mesh_sdk.JobTimeout)
        self.assertEqual(e.job_id, future.job_id)
        self.assertEqual(self.client.wait(future.job_id, timeout=30).state, 'cancelled')

    def test_the_wordcount_example_script(self):
        files = []
        for i, text in enumerate((b'', b'one line\n', b'a b c\n' * 50 + b'tail no newline')):
            path = os.path.join(self.tmp, f'dsl_example_{i}.txt')
            with open(path, 'wb') as f:
                f.write(text)
            files.append((path, text))
        script = os.path.join(os.path.dirname(__file__), '..', 'examples', 'wordcount_dsl.py')
        run = subprocess.run([sys.executable, script, '--module', example('wordcount'),
                              '--parts', '3', '--node', self.url, '--token', self.token,
                              *[p for p, _ in files]], capture_output=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        lines = sorted(run.stdout.decode().splitlines(), key=lambda l: l.split()[-1])
        self.assertEqual(lines, ['%8d %8d %8d %s' % (*wc(t), p) for p, t in files])

    def test_as_completed_over_many_calls(self):
        futures = {self.echo(b'%d' % i): i for i in range(10)}
        got = {futures[f]: f.result() for f in concurrent.futures.as_completed(futures, 120)}
        self.assertEqual(got, {i: b'%d' % i for i in range(10)})


if __name__ == '__main__':
    unittest.main()
