#!/usr/bin/env python3
"""Integration tests of meshd's HTTP API: a real meshd on a free port, used over HTTP the way a
client would (and, in CliTest, through the `mesh` CLI). Standard library only.

Usage: node_api_test.py --meshd PATH --mesh PATH --examples DIR [unittest arguments...]
e.g.   node_api_test.py --meshd build/x/apps/mesh/meshd --mesh build/x/apps/mesh/mesh \
           --examples build/x/examples ApiTest.test_blob_range -v

Every test class starts its own meshd on a fresh data dir and kills it (and any mesh-worker it
left behind) when it is done, whether the tests passed or not. Nothing sleeps to synchronise:
tests wait with a deadline (wait_until) or with the API's own long poll (?wait=).
"""

import argparse
import base64
import calendar
import concurrent.futures
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

MESHD = MESH = EXAMPLES = None  # set from the command line in main()
SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
OPENAPI_PATH = os.path.join(SOURCE_DIR, '..', '..', 'src', 'api', 'openapi.json')

BIG_FUEL = 10**15  # with a long wall-time limit: a `loop` job that runs until it is stopped
READY_RE = re.compile(r'^meshd ready at (http://\S+) \(node (did:key:\S+), (\d+) worker\(s\), '
                      r'engine (\w+), started in \d+ ms\)$')
CID_RE = re.compile(r'^bafk[a-z2-7]{55}$')  # CIDv1, raw codec, sha2-256, base32
TERMINAL = ('succeeded', 'failed', 'cancelled')
HELLO = b'hello, mesh\n'


def cid_of(data):
    """The CIDv1 (raw codec, sha2-256, base32 lower-case) of `data`, computed here."""
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return 'b' + base64.b32encode(raw).decode('ascii').lower().rstrip('=')


def did_key_of(public_key):
    """The did:key of a 32-byte Ed25519 public key: multicodec 0xed01, base58btc ('z')."""
    alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
    raw = bytes([0xed, 0x01]) + public_key
    n, text = int.from_bytes(raw, 'big'), ''
    while n:
        n, digit = divmod(n, 58)
        text = alphabet[digit] + text
    return 'did:key:z' + '1' * (len(raw) - len(raw.lstrip(b'\0'))) + text


def wait_until(predicate, timeout=30.0, what='the condition', interval=0.02):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(interval)


def example(name):
    with open(os.path.join(EXAMPLES, name + '.wasm'), 'rb') as f:
        return f.read()


def parse_time(text):
    """RFC 3339 as meshd writes it (UTC, optional fraction) -> seconds since the epoch."""
    m = re.match(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|\+00:00)$', text)
    if m is None:
        raise AssertionError(f'not an RFC 3339 UTC time: {text!r}')
    whole = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
    return whole + (float(m.group(7)) if m.group(7) else 0.0)


def metric(text, name, **labels):
    """The value of one Prometheus sample in `text`, or None if it is not there."""
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$', line)
        if m is None:
            raise AssertionError(f'malformed metrics line: {line!r}')
        if m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ''))
        if got == labels:
            return float(m.group(3))
    return None


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f'HTTP {self.status}: {self.body[:500]!r}'


class Meshd:
    """One meshd process on one data dir. start() waits for its "ready" line; kill() ends it and
    every mesh-worker it was seen to have."""
    log_level = 'warn'  # of its log file (subclasses may want more)

    def __init__(self, data_dir, flags=(), env=None, new_session=False):
        self.data_dir = data_dir
        self.new_session = new_session  # its own process group, as under a terminal or systemd
        self.flags = list(flags)
        self.env = env
        self.log_path = data_dir.rstrip('/') + '.meshd.log'
        self.proc = None
        self.seen_workers = {}  # pid -> start time (to never signal a recycled pid)
        self.modules = {}  # example name -> CID, uploaded once per data dir

    # --- process ------------------------------------------------------------------------------

    def start(self, timeout=60, extra_flags=()):
        if self.running():
            raise AssertionError('meshd is already running')
        log = open(self.log_path, 'ab')
        log.write(b'--- meshd start ---\n')
        log.flush()
        cmd = [MESHD, '--data-dir', self.data_dir, '--listen', '127.0.0.1:0', '--log-level',
               self.log_level, *self.flags, *extra_flags]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=log, env=self.env, start_new_session=self.new_session)
        log.close()
        lines = queue.Queue()

        def pump(stdout):
            with stdout:  # closed here at EOF, i.e. once meshd has exited
                for raw in stdout:
                    lines.put(raw.decode('utf-8', 'replace').rstrip('\n'))
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError(f'meshd was not ready within {timeout} s; log:\n{self.log()}')
            if line is None:
                code = self.proc.wait()
                raise AssertionError(f'meshd exited with {code} before it was ready; '
                                     f'log:\n{self.log()}')
            m = READY_RE.match(line)
            if m:
                break
        self.url, self.did, self.workers, self.engine = (m.group(1), m.group(2),
                                                         int(m.group(3)), m.group(4))
        split = urllib.parse.urlsplit(self.url)
        self.host, self.port = split.hostname, split.port
        with open(os.path.join(self.data_dir, 'api.token')) as f:
            self.token = f.read().strip()
        self.children()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')[-8000:]
        except OSError:
            return '(no log)'

    @staticmethod
    def _stat(pid):
        """(state, ppid, start time) of a process, or None if it is gone."""
        try:
            with open(f'/proc/{pid}/stat') as f:
                text = f.read()
        except OSError:
            return None
        fields = text[text.rfind(')') + 2:].split()
        return fields[0], int(fields[1]), int(fields[19])

    def children(self):
        """The pids of meshd's child processes (its mesh-workers), remembered for kill()."""
        if self.proc is None:
            return []
        pids = []
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                st = self._stat(int(entry))
                if st is not None and st[1] == self.proc.pid and st[0] != 'Z':
                    pids.append(int(entry))
                    self.seen_workers[int(entry)] = st[2]
        return pids


    def live_workers(self):
        """Workers seen earlier that still exist (zombies count as gone)."""
        alive = []
        for pid, started in self.seen_workers.items():
            st = self._stat(pid)
            if st is not None and st[2] == started and st[0] != 'Z':
                alive.append(pid)
        return alive

    def signal(self, sig):
        self.children()
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'meshd did not exit within {timeout} s; log:\n{self.log()}')

    def kill_daemon(self):
        """SIGKILL meshd alone (its workers are left to notice); returns its exit status."""
        self.children()
        self.proc.kill()
        return self.proc.wait()

    def kill(self):
        """SIGKILL meshd and every worker it had; safe to call any time, more than once."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.children()
                self.proc.kill()
            self.proc.wait()
        for pid in self.live_workers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- HTTP ---------------------------------------------------------------------------------

    def call(self, method, path, body=None, headers=None, token=True, timeout=60):
        """One request on a fresh connection. token: True = this node's, False = none, or a str."""
        hdrs = dict(headers or {})
        if token is True:
            hdrs['Authorization'] = 'Bearer ' + self.token
        elif token:
            hdrs['Authorization'] = 'Bearer ' + token
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            conn.close()

    def upload(self, data):
        r = self.call('POST', '/v1/blobs', data, {'Content-Type': 'application/octet-stream'})
        if r.status != 201:
            raise AssertionError(f'upload failed: {r}')
        return r.json()['cid']

    def module(self, name):
        if name not in self.modules:
            self.modules[name] = self.upload(example(name))
        return self.modules[name]

    def post_job(self, body, wait=None, key=None, token=True):
        path = '/v1/jobs' + (f'?wait={wait}' if wait else '')
        headers = {'Content-Type': 'application/json'}
        if key is not None:
            headers['Idempotency-Key'] = key
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.call('POST', path, data, headers, token=token)

    def submit(self, name, inputs=(), args=(), limits=None, priority=None, labels=None,
               wait=None, key=None, expect=201):
        """Submits example `name`; returns the job (JSON) after checking the status code."""
        body = {'module': self.module(name)}
        if inputs:
            body['inputs'] = [self.upload(x) for x in inputs]
        if args:
            body['args'] = list(args)
        if limits:
            body['limits'] = limits
        if priority is not None:
            body['priority'] = priority
        if labels:
            body['labels'] = labels
        r = self.post_job(body, wait=wait, key=key)
        if r.status != expect:
            raise AssertionError(f'POST /v1/jobs: want {expect}, got {r}')
        return r.json()

    def submit_loop(self, **kw):
        """A job that runs until it is cancelled (or two minutes pass)."""
        return self.submit('loop', limits={'fuel': BIG_FUEL, 'wall_time_ms': 120000}, **kw)

    def job(self, job_id, wait=None):
        r = self.call('GET', f'/v1/jobs/{job_id}' + (f'?wait={wait}' if wait else ''))
        if r.status != 200:
            raise AssertionError(f'GET /v1/jobs/{job_id}: {r}')
        return r.json()

    def wait_job(self, job_id, timeout=60):
        """The job once it has ended, waited for with the API's long poll."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id, wait='5s')
            if job['state'] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f'job {job_id} still {job["state"]} after {timeout} s')

    def wait_state(self, job_id, state, timeout=30):
        return wait_until(lambda: (lambda j: j if j['state'] == state else None)(self.job(job_id)),
                          timeout, f'job {job_id} to be {state}')

    def cancel(self, job_id, token=True):
        return self.call('DELETE', f'/v1/jobs/{job_id}', token=token)

    def info(self):
        r = self.call('GET', '/v1/node')
        if r.status != 200:
            raise AssertionError(f'GET /v1/node: {r}')
        return r.json()

    def stats(self):
        return self.info()['stats']

    def metrics(self):
        r = self.call('GET', '/metrics')
        if r.status != 200:
            raise AssertionError(f'GET /metrics: {r}')
        return r.body.decode()

    def list_all(self, state=None, limit=1000):
        """Every job (newest first), following next_before."""
        jobs, before = [], None
        while True:
            q = {'limit': limit}
            if state:
                q['state'] = state
            if before is not None:
                q['before'] = before
            r = self.call('GET', '/v1/jobs?' + urllib.parse.urlencode(q))
            if r.status != 200:
                raise AssertionError(f'GET /v1/jobs: {r}')
            page = r.json()
            jobs += page['jobs']
            if 'next_before' not in page:
                return jobs
            before = page['next_before']

    def events(self, query='', headers=None, timeout=30):
        return EventStream(self, query, headers, timeout)


class EventStream:
    """GET /v1/events read line by line from the raw response."""

    def __init__(self, node, query, headers, timeout):
        self.conn = http.client.HTTPConnection(node.host, node.port, timeout=timeout)
        headers = dict(headers or {})
        headers.setdefault('Authorization', 'Bearer ' + node.token)
        self.conn.request('GET', '/v1/events' + query, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader('Content-Type')

    def next(self):
        """The next event as {'id', 'event', 'data'}; comments (keepalives) are skipped."""
        event = {'id': None, 'event': 'message', 'data': ''}
        seen = False
        while True:
            raw = self.response.readline()
            if not raw:
                raise AssertionError('the event stream ended')
            line = raw.decode('utf-8').rstrip('\r\n')
            if line == '':
                if seen:
                    if event['data']:
                        event['data'] = json.loads(event['data'])
                    return event
                continue
            if line.startswith(':'):
                continue
            field, _, value = line.partition(':')
            value = value[1:] if value.startswith(' ') else value
            seen = True
            if field == 'id':
                event['id'] = int(value)
            elif field == 'event':
                event['event'] = value
            elif field == 'data':
                event['data'] += value

    def until(self, stop, timeout=30):
        """Events up to and including the first for which stop(event) is true."""
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            got.append(self.next())
            if stop(got[-1]):
                return got
        raise AssertionError(f'no matching event within {timeout} s; got {got}')

    def close(self):
        self.conn.close()


def ended(job_id):
    return lambda e: e['event'] in ('job.succeeded', 'job.failed', 'job.cancelled') and \
        e['data'].get('job_id') == job_id


class NodeTest(unittest.TestCase):
    """A class-wide meshd. Subclasses set FLAGS, CONFIG (meshd.toml text) and INIT."""
    FLAGS = ('--engine', 'interp')
    CONFIG = None
    INIT = False  # run `mesh init` first (else meshd creates the data dir itself)
    ENV = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='mesh_node_api.')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.data_dir = os.path.join(cls.tmp, 'data')
        if cls.INIT:
            subprocess.run([MESH, '--data-dir', cls.data_dir, 'init'], check=True,
                           stdout=subprocess.DEVNULL)
        if cls.CONFIG is not None:
            os.makedirs(cls.data_dir, mode=0o700, exist_ok=True)
            with open(os.path.join(cls.data_dir, 'meshd.toml'), 'w') as f:
                f.write(cls.CONFIG)
        cls.node = Meshd(cls.data_dir, cls.FLAGS, cls.ENV)
        cls.addClassCleanup(cls.node.kill)
        cls.node.start()

    def cancel_later(self, job_id):
        """Makes sure a blocking job does not outlive the test that started it."""
        self.addCleanup(lambda: self.node.cancel(job_id) if self.node.running() else None)


# ------------------------------------------------------------------------------------------------
class ApiTest(NodeTest):
    """Every route of openapi.json, its errors and the token rule, on one interp node."""
    FLAGS = ('--engine', 'interp', '--max-concurrent', '2')
    CONFIG = '[api]\nmax_json_bytes = 1024\nmax_blob_bytes = 65536\n'

    # --- blobs --------------------------------------------------------------------------------

    def test_blob_upload_and_download(self):
        data = os.urandom(50000)
        r = self.node.call('POST', '/v1/blobs', data, {'Content-Type': 'application/octet-stream'})
        self.assertEqual(r.status, 201, r)
        body = r.json()
        self.assertEqual(body['cid'], cid_of(data), 'the CID is the CIDv1 of the bytes')
        self.assertEqual(body['size'], len(data))
        self.assertEqual(r.headers['Location'], '/v1/blobs/' + body['cid'])
        got = self.node.call('GET', '/v1/blobs/' + body['cid'])
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.body, data)
        self.assertEqual(got.headers['Content-Type'], 'application/octet-stream')
        self.assertEqual(got.headers['Accept-Ranges'], 'bytes')
        self.assertEqual(got.headers['ETag'], f'"{body["cid"]}"')
        self.assertEqual(int(got.headers['Content-Length']), len(data))
        # The same bytes again: the same CID.
        self.assertEqual(self.node.upload(data), body['cid'])
        # An empty blob is a blob.
        self.assertEqual(self.node.upload(b''), cid_of(b''))
        self.assertEqual(self.node.call('GET', '/v1/blobs/' + cid_of(b'')).body, b'')

    def test_blob_ranges(self):
        data = bytes(range(256)) * 40  # 10240 bytes
        cid = self.node.upload(data)
        n = len(data)

        def get(rng):
            return self.node.call('GET', '/v1/blobs/' + cid, headers={'Range': rng})

        for rng, first, last in (('bytes=0-99', 0, 99), ('bytes=100-', 100, n - 1),
                                 ('bytes=-10', n - 10, n - 1), ('bytes=5000-5000', 5000, 5000),
                                 ('bytes=10000-999999', 10000, n - 1),
                                 ('bytes=-999999', 0, n - 1)):
            r = get(rng)
            self.assertEqual(r.status, 206, f'{rng}: {r}')
            self.assertEqual(r.headers['Content-Range'], f'bytes {first}-{last}/{n}', rng)
            self.assertEqual(r.body, data[first:last + 1], rng)
            self.assertEqual(int(r.headers['Content-Length']), last - first + 1, rng)
        for rng in (f'bytes={n}-', f'bytes={n + 5}-{n + 10}', 'bytes=-0'):
            r = get(rng)
            self.assertEqual(r.status, 416, f'{rng}: {r}')
            self.assertEqual(r.json()['code'], 'range_not_satisfiable')
            self.assertEqual(r.headers['Content-Range'], f'bytes */{n}', rng)
        # Ranges this server does not serve (several, reversed, other units): the whole blob.
        for rng in ('bytes=0-1,5-6', 'bytes=9-3', 'items=0-1'):
            r = get(rng)
            self.assertEqual(r.status, 200, f'{rng}: {r}')
            self.assertEqual(r.body, data, rng)

    def test_blob_bad_and_unknown_cid(self):
        for bad in ('not-a-cid', 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', 'bafkqqqq'):
            r = self.node.call('GET', '/v1/blobs/' + bad)
            self.assertEqual(r.status, 400, f'{bad}: {r}')
            self.assertEqual(r.json()['code'], 'invalid_argument')
            self.assertIn('CID', r.json()['message'])
        unknown = cid_of(b'never uploaded ' + os.urandom(8))
        r = self.node.call('GET', '/v1/blobs/' + unknown)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()['code'], 'not_found')

    def test_blob_over_the_limit_is_413(self):
        data = os.urandom(65537)  # max_blob_bytes = 65536 in meshd.toml
        r = self.node.call('POST', '/v1/blobs', data, {'Content-Type': 'application/octet-stream'})
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()['code'], 'payload_too_large')
        self.assertIn('65536', r.json()['message'])
        self.assertEqual(self.node.call('GET', '/v1/blobs/' + cid_of(data)).status, 404)
        # Without a Content-Length (chunked), the limit is found while reading.
        conn = http.client.HTTPConnection(self.node.host, self.node.port, timeout=30)
        try:
            conn.request('POST', '/v1/blobs', body=iter([data[:40000], data[40000:]]),
                         headers={'Authorization': 'Bearer ' + self.node.token},
                         encode_chunked=True)
            r = conn.getresponse()
            self.assertEqual(r.status, 413)
            self.assertEqual(json.loads(r.read())['code'], 'payload_too_large')
        finally:
            conn.close()
        self.assertEqual(self.node.call('GET', '/v1/blobs/' + cid_of(data)).status, 404)
        wait_until(lambda: not os.listdir(os.path.join(self.data_dir, 'uploads')), timeout=10,
                   what='the rejected upload to be deleted')
        # Exactly at the limit is fine.
        self.assertEqual(self.node.upload(data[:65536]), cid_of(data[:65536]))

    # --- jobs ---------------------------------------------------------------------------------

    def test_echo_job_end_to_end(self):
        data = os.urandom(30000)
        r = self.node.post_job({'module': self.node.module('echo'),
                                'inputs': [self.node.upload(data)], 'labels': {'test': 'echo'}},
                               wait='10s')
        self.assertEqual(r.status, 201, r)
        job = r.json()
        self.assertRegex(job['id'], CID_RE)
        self.assertEqual(r.headers['Location'], '/v1/jobs/' + job['id'])
        self.assertEqual(job['state'], 'succeeded', job)
        self.assertEqual(job['outcome'], 'ok')
        self.assertEqual(job['exit_code'], 0)
        self.assertEqual(job['attempts'], 1)
        self.assertEqual(job['labels'], {'test': 'echo'})
        self.assertEqual(job['submitter'], self.node.did, 'the node signed the spec')
        self.assertEqual(job['spec']['module'], self.node.module('echo'))
        self.assertEqual(job['output_cid'], cid_of(data), 'echo outputs its input')
        self.assertGreater(job['fuel_used'], 0)
        self.assertEqual(job['report']['outcome'], 'ok')
        self.assertEqual(job['report']['engine'], 'interp')
        for field in ('submitted_at', 'started_at', 'finished_at'):
            parse_time(job[field])
        self.assertLessEqual(parse_time(job['submitted_at']), parse_time(job['started_at']))
        self.assertLessEqual(parse_time(job['started_at']), parse_time(job['finished_at']))
        self.assertGreaterEqual(job['queue_wait_ms'], 0)
        self.assertGreaterEqual(job['run_ms'], 0)
        self.assertGreater(job['seq'], 0)
        # The same job read back, and its output.
        self.assertEqual(self.node.job(job['id']), job)
        out = self.node.call('GET', f'/v1/jobs/{job["id"]}/output')
        self.assertEqual(out.status, 200, out)
        self.assertEqual(out.body, data)
        self.assertEqual(out.headers['X-Mesh-Output-Cid'], cid_of(data))
        self.assertEqual(out.headers['X-Mesh-Job-State'], 'succeeded')
        part = self.node.call('GET', f'/v1/jobs/{job["id"]}/output',
                              headers={'Range': 'bytes=100-199'})
        self.assertEqual(part.status, 206, part)
        self.assertEqual(part.body, data[100:200])
        # The output is a blob like any other.
        self.assertEqual(self.node.call('GET', '/v1/blobs/' + cid_of(data)).body, data)

    def test_submit_then_long_poll(self):
        job = self.node.submit('hello')
        self.assertIn(job['state'], ('queued', 'running', 'succeeded'))
        if job['state'] == 'queued':
            self.assertEqual((job['attempts'], job['started_at']), (0, None))
        done = self.node.job(job['id'], wait='10s')
        self.assertEqual(done['state'], 'succeeded', done)
        self.assertEqual(self.node.call('GET', f'/v1/jobs/{job["id"]}/output').body, HELLO)
        # A long poll on a finished job answers at once.
        t0 = time.monotonic()
        self.assertEqual(self.node.job(job['id'], wait='30s')['state'], 'succeeded')
        self.assertLess(time.monotonic() - t0, 5)
        # A long poll that runs out answers with the job as it is.
        loop = self.node.submit_loop()
        self.cancel_later(loop['id'])
        t0 = time.monotonic()
        still = self.node.job(loop['id'], wait='300ms')
        self.assertIn(still['state'], ('queued', 'running'))
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        for bad in ('soon', '-1s'):
            r = self.node.call('GET', f'/v1/jobs/{job["id"]}?wait={bad}')
            self.assertEqual(r.status, 400, f'wait={bad}: {r}')
            self.assertIn('wait=', r.json()['message'])
        self.assertEqual(self.node.cancel(loop['id']).json()['state'], 'cancelled')

    def test_idempotency_key(self):
        key = 'retry-' + os.urandom(6).hex()
        body = {'module': self.node.module('hello')}
        first = self.node.post_job(body, key=key)
        self.assertEqual(first.status, 201, first)
        again = self.node.post_job(body, key=key)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()['id'], first.json()['id'])
        # Even with a different body: the key names the first job.
        other = self.node.post_job({'module': self.node.module('noop')}, key=key, wait='10s')
        self.assertEqual(other.status, 200, other)
        self.assertEqual(other.json()['id'], first.json()['id'])
        self.assertEqual(other.json()['state'], 'succeeded', 'with ?wait, once it has ended')
        fresh = self.node.post_job(body, key=key + '-2')
        self.assertEqual(fresh.status, 201, fresh)
        self.assertNotEqual(fresh.json()['id'], first.json()['id'])
        no_key = [self.node.post_job(body).json()['id'] for _ in range(2)]
        self.assertNotEqual(no_key[0], no_key[1], 'without a key, every POST is a new job')
        r = self.node.post_job(body, key='k' * 257)
        self.assertEqual(r.status, 400, r)
        # The same key sent by 8 clients at once: one job, created once.
        racing = 'race-' + os.urandom(6).hex()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: self.node.post_job(body, key=racing), range(8)))
        self.assertEqual(sorted(a.status for a in answers), [200] * 7 + [201], answers)
        self.assertEqual(len({a.json()['id'] for a in answers}), 1)
        no_key.append(answers[0].json()['id'])
        for job_id in [first.json()['id'], fresh.json()['id']] + no_key:
            self.assertEqual(self.node.wait_job(job_id)['state'], 'succeeded')

    def test_list_jobs(self):
        ids = [self.node.submit('noop', labels={'batch': 'list'})['id'] for _ in range(5)]
        for job_id in ids:
            self.node.wait_job(job_id)
        failed = self.node.submit('trap', args=['unreachable'], wait='10s')
        self.assertEqual(failed['state'], 'failed')
        everything = self.node.list_all()
        seqs = [j['seq'] for j in everything]
        self.assertEqual(seqs, sorted(seqs, reverse=True), 'newest first')
        self.assertEqual(len(set(j['id'] for j in everything)), len(everything))
        self.assertEqual(everything[0]['id'], failed['id'])
        self.assertEqual([j['id'] for j in everything[1:6]], ids[::-1])
        # Filters.
        succeeded = self.node.list_all(state='succeeded')
        self.assertTrue(set(ids) <= {j['id'] for j in succeeded})
        self.assertTrue(all(j['state'] == 'succeeded' for j in succeeded))
        only_failed = self.node.list_all(state='failed')
        self.assertIn(failed['id'], [j['id'] for j in only_failed])
        self.assertTrue(all(j['state'] == 'failed' for j in only_failed))
        # Paging: limit=2 pages cover the same list, without repeats.
        paged = self.node.list_all(limit=2)
        self.assertEqual([j['id'] for j in paged], [j['id'] for j in everything])
        r = self.node.call('GET', '/v1/jobs?limit=2')
        page = r.json()
        self.assertEqual(len(page['jobs']), 2)
        self.assertEqual(page['next_before'], page['jobs'][-1]['seq'])
        r = self.node.call('GET', f'/v1/jobs?limit=3&before={page["next_before"]}')
        self.assertEqual([j['seq'] for j in r.json()['jobs']], seqs[2:5])
        last = self.node.call('GET', f'/v1/jobs?limit=1000').json()
        self.assertNotIn('next_before', last, 'a short page is the last one')
        # Bad queries.
        for q, what in (('state=done', 'state=done'), ('limit=0', 'limit=0'),
                        ('limit=1001', 'limit=1001'), ('limit=ten', 'limit=ten'),
                        ('before=-3', 'before=-3')):
            r = self.node.call('GET', '/v1/jobs?' + q)
            self.assertEqual(r.status, 400, f'{q}: {r}')
            self.assertEqual(r.json()['code'], 'invalid_argument')
            self.assertIn(what, r.json()['message'])

    def test_unknown_job(self):
        unknown = cid_of(b'no such job')
        for method, path in (('GET', f'/v1/jobs/{unknown}'), ('GET', f'/v1/jobs/{unknown}/output'),
                             ('DELETE', f'/v1/jobs/{unknown}'),
                             ('GET', f'/v1/jobs/{unknown}?wait=5s')):
            r = self.node.call(method, path)
            self.assertEqual(r.status, 404, f'{method} {path}: {r}')
            self.assertEqual(r.json()['code'], 'not_found')
            self.assertIn(unknown, r.json()['message'])

    def test_cancel_running_job_and_output_409(self):
        job = self.node.submit_loop()
        self.cancel_later(job['id'])
        running = self.node.wait_state(job['id'], 'running')
        self.assertEqual(running['attempts'], 1)
        self.assertIsNotNone(running['started_at'])
        self.assertIsNone(running['finished_at'])
        r = self.node.call('GET', f'/v1/jobs/{job["id"]}/output')
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()['code'], 'failed_precondition')
        self.assertIn('running', r.json()['message'])
        r = self.node.cancel(job['id'])
        self.assertEqual(r.status, 200, r)
        cancelled = r.json()
        self.assertEqual(cancelled['state'], 'cancelled')
        self.assertIn('cancelled', cancelled['reason'])
        self.assertIsNotNone(cancelled['finished_at'])
        self.assertEqual(self.node.job(job['id'])['state'], 'cancelled')
        # Cancelling it again, or cancelling a job that has finished: 409.
        r = self.node.cancel(job['id'])
        self.assertEqual(r.status, 409, r)
        self.assertIn('already', r.json()['message'])
        done = self.node.submit('hello', wait='10s')
        r = self.node.cancel(done['id'])
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()['code'], 'failed_precondition')
        self.assertEqual(self.node.job(done['id'])['state'], 'succeeded')
        # A job that ended without output: 404 that says so.
        r = self.node.call('GET', f'/v1/jobs/{job["id"]}/output')
        self.assertEqual(r.status, 404, r)
        self.assertIn('without output', r.json()['message'])

    def test_failed_jobs(self):
        trap = self.node.submit('trap', args=['unreachable'], wait='10s')
        self.assertEqual(trap['state'], 'failed', trap)
        self.assertEqual(trap['outcome'], 'trap')
        self.assertTrue(trap['reason'].startswith('trap: '), trap['reason'])
        self.assertEqual(trap['report']['outcome'], 'trap')
        fuel = self.node.submit('loop', limits={'fuel': 1000000}, wait='10s')
        self.assertEqual(fuel['state'], 'failed', fuel)
        self.assertEqual(fuel['outcome'], 'fuel_exhausted')
        self.assertTrue(fuel['reason'].startswith('fuel_exhausted: '), fuel['reason'])
        self.assertEqual(fuel['spec']['limits']['fuel'], 1000000)
        self.assertGreaterEqual(fuel['fuel_used'], 1000000)
        timeout = self.node.submit('loop', limits={'fuel': BIG_FUEL, 'wall_time_ms': 300},
                                   wait='10s')
        self.assertEqual(timeout['state'], 'failed', timeout)
        self.assertEqual(timeout['outcome'], 'timeout')
        exit42 = self.node.submit('trap', args=['exit42'], wait='10s')
        self.assertEqual(exit42['state'], 'failed', exit42)
        self.assertEqual(exit42['outcome'], 'ok')
        self.assertEqual(exit42['exit_code'], 42)
        self.assertEqual(exit42['reason'], 'the module exited with status 42')
        # A failed job's output (what it wrote before failing) is still readable.
        r = self.node.call('GET', f'/v1/jobs/{trap["id"]}/output')
        self.assertEqual(r.status, 200, r)

    def test_job_defaults_are_signed_into_the_spec(self):
        job = self.node.submit('noop', wait='10s')
        limits = job['spec']['limits']
        default = self.node.info()['default_limits']
        self.assertEqual(limits, default)
        self.assertTrue(all(v > 0 for v in limits.values()), limits)
        self.assertEqual(job['spec']['deterministic'], True)
        self.assertEqual(job['priority'], 0)

    # --- request errors -----------------------------------------------------------------------

    def assertError(self, r, status, code, *fragments):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers['Content-Type'], 'application/json')
        body = r.json()
        self.assertEqual(set(body), {'code', 'message'}, body)
        self.assertEqual(body['code'], code, body)
        for fragment in fragments:
            self.assertIn(fragment, body['message'])
        return body['message']

    def test_bad_json_names_the_byte(self):
        m = self.assertError(self.node.post_job('{"module": "x",'), 400, 'invalid_argument',
                             'not valid JSON')
        self.assertRegex(m, r'at byte \d+')
        # nlohmann/json names the last byte it read: the end of the token where ':' should be.
        m = self.assertError(self.node.post_job('{"module" "x"}'), 400, 'invalid_argument')
        self.assertIn('at byte 13', m)
        m = self.assertError(self.node.post_job('{"module": tru}'), 400, 'invalid_argument')
        self.assertIn('at byte 15', m)
        self.assertError(self.node.post_job(''), 400, 'invalid_argument', 'at byte')
        self.assertError(self.node.post_job('[1, 2]'), 400, 'invalid_argument', 'must be an object')

    def test_spec_errors_name_the_json_path(self):
        cid = self.node.module('hello')
        cases = [
            ({'module': cid, 'limits': {'fuel': 'lots'}}, '/limits/fuel: must be a non-negative'),
            ({'module': cid, 'limits': {'fuel': -1}}, '/limits/fuel: must be a non-negative'),
            ({'module': cid, 'limits': {'memory_bytes': 2**33}},
             '/limits/memory_bytes: must be at most 4294967296'),
            ({'module': cid, 'limits': {'cpu': 1}}, '/limits/cpu: unknown field'),
            ({'module': cid, 'priority': 101}, '/priority: must be between -100 and 100'),
            ({'module': cid, 'priority': 'high'}, '/priority: must be an integer'),
            ({'module': cid, 'args': ['ok', 7]}, '/args/1: must be a string'),
            ({'module': cid, 'env': {'A': 1}}, '/env/A: must be a string'),
            ({'module': cid, 'env': {'A=B': 'c'}}, "/env/A=B: name must not contain '='"),
            ({'module': cid, 'deterministic': 'yes'}, '/deterministic: must be true or false'),
            ({'module': cid, 'inputs': ['nope']}, '/inputs/0: '),
            ({'module': cid, 'bogus': 1}, '/bogus: unknown field'),
            ({'inputs': []}, '/module: is required'),
            ({'module': 42}, '/module: must be a string'),
            ({'module': cid, 'submitter': 'did:key:z6Mk'}, 'set by the signer'),
        ]
        for body, fragment in cases:
            with self.subTest(body=body):
                self.assertError(self.node.post_job(body), 400, 'invalid_argument', fragment)

    def test_module_not_uploaded_is_409(self):
        missing = cid_of(b'a module nobody uploaded')
        m = self.assertError(self.node.post_job({'module': missing}), 409, 'failed_precondition',
                             missing, 'upload it first')
        self.assertIn('module', m)
        present = self.node.module('echo')
        self.assertError(self.node.post_job({'module': present, 'inputs': [missing]}), 409,
                         'failed_precondition', 'input ' + missing)

    def test_json_body_limit_is_413(self):
        cid = self.node.module('noop')
        base = json.dumps({'module': cid})
        at_limit = base + ' ' * (1024 - len(base))  # max_json_bytes = 1024 in meshd.toml
        self.assertEqual(len(at_limit), 1024)
        r = self.node.post_job(at_limit)
        self.assertEqual(r.status, 201, r)
        self.assertError(self.node.post_job(at_limit + ' '), 413, 'payload_too_large', '1024')
        self.node.wait_job(r.json()['id'])

    def test_wait_query_errors(self):
        self.assertError(self.node.post_job({'module': self.node.module('noop')}, wait='forever'),
                         400, 'invalid_argument', 'wait=forever')

    # --- routes -------------------------------------------------------------------------------

    def test_unknown_route_and_wrong_method(self):
        # ('/' is the dashboard's page: test_openapi_document; '/ui/a/b' no file of it.)
        for path in ('/v2/jobs', '/v1', '/v1/jobs/x/y/z', '/metricsx', '/ui/a/b', '/ui'):
            with self.subTest(path=path):
                self.assertError(self.node.call('GET', path), 404, 'not_found', path)
        for method, path in (('PUT', '/v1/jobs'), ('DELETE', '/v1/blobs/x'),
                             ('GET', '/v1/blobs'), ('POST', '/v1/node'),
                             ('PATCH', '/v1/jobs/x'), ('POST', '/metrics'), ('POST', '/'),
                             ('DELETE', '/ui/app.js')):
            with self.subTest(method=method, path=path):
                r = self.node.call(method, path)
                self.assertError(r, 405, 'method_not_allowed', method)
                self.assertTrue(r.headers['Allow'], r)
                self.assertNotIn(method, r.headers['Allow'].split(', '))
        self.assertEqual(self.node.call('PUT', '/v1/jobs/x').headers['Allow'], 'GET, DELETE')

    def test_openapi_document(self):
        r = self.node.call('GET', '/v1/openapi.json')
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers['Content-Type'].startswith('application/json'))
        served = r.json()
        with open(OPENAPI_PATH) as f:
            self.assertEqual(served, json.load(f), 'the node serves src/api/openapi.json')
        self.assertEqual(served['openapi'], '3.0.3')
        routes = {(m.upper(), p) for p, item in served['paths'].items() for m in item}
        self.assertEqual(routes, {
            ('POST', '/v1/blobs'), ('GET', '/v1/blobs/{cid}'), ('POST', '/v1/blobs/dir'),
            ('POST', '/v1/jobs'),
            ('GET', '/v1/jobs'), ('GET', '/v1/jobs/{id}'), ('DELETE', '/v1/jobs/{id}'),
            ('GET', '/v1/jobs/{id}/output'), ('GET', '/v1/node'), ('GET', '/v1/node/profile'),
            ('GET', '/v1/events'),
            ('GET', '/metrics'), ('GET', '/v1/openapi.json'), ('GET', '/v1/peers'),
            ('GET', '/v1/jobs/{id}/history'), ('GET', '/v1/jobs/{id}/explain'),
            ('GET', '/v1/ledger/balance'), ('GET', '/v1/ledger/balance/{did}'),
            ('GET', '/v1/ledger/history'), ('GET', '/v1/ledger/verify'),
            ('GET', '/v1/reputation'), ('GET', '/v1/jobs/{id}/chunks'),
            ('GET', '/v1/jobs/{id}/chunks/{index}/proof'), ('GET', '/v1/jobs/{id}/partials'),
            ('GET', '/v1/jobs/{id}/checkpoints'),
            ('GET', '/v1/me'), ('GET', '/v1/users'), ('POST', '/v1/users'),
            ('DELETE', '/v1/users/{name}'), ('POST', '/v1/users/{name}/token'),
            ('POST', '/v1/store'), ('GET', '/v1/store'), ('GET', '/v1/store/{cid}'),
            ('DELETE', '/v1/store/{cid}'), ('GET', '/v1/store/{cid}/content'),
            ('GET', '/'), ('GET', '/ui/{file}')})  # the dashboard's page and files: no token
        # Every documented route answers (not 404/405) and every one but the health route and
        # the dashboard's files needs a token, as its "security" says; the metrics need none
        # from loopback (accounts_test.py checks each route under each role).
        for method, path in sorted(routes):
            if path == '/v1/events':
                continue  # a stream; EventsTest reads it
            concrete = path.replace('{cid}', cid_of(b'x')).replace('{id}', cid_of(b'y')).replace(
                '{did}', did_key_of(bytes(32))).replace('{index}', '0').replace('{name}', 'nobody')
            r = self.node.call(method, concrete, b'', token=False)
            secured = 'security' in served['paths'][path][method.lower()]
            with self.subTest(route=f'{method} {path}'):
                self.assertNotIn(r.status, (405,), r)
                if path == '/metrics':
                    self.assertEqual(r.status, 200, r)
                elif secured:
                    self.assertEqual(r.status, 401, r)
                elif '{' not in path or '{did}' in path:  # any DID has a balance (maybe 0)
                    self.assertEqual(r.status, 200, r)
                else:
                    self.assertEqual(r.status, 404, r)

    # --- ledger and reputation -----------------------------------------------------------------

    def ledger_entries(self, query=''):
        r = self.node.call('GET', '/v1/ledger/history?limit=1000' + query)
        self.assertEqual(r.status, 200, r)
        return r.json()['entries']

    def balance(self, did=None):
        r = self.node.call('GET', '/v1/ledger/balance' + (f'/{did}' if did else ''))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_ledger_balance_of_this_node_and_of_others(self):
        own = self.balance()
        # Every submitter starts with trust.credit_cap (1000000) credits (a refund may lift it a
        # little over, by what regenerated while credits were held); nothing is held now.
        self.assertEqual((own['did'], own['held']), (self.node.did, 0), own)
        self.assertGreaterEqual(own['available'], 1000000)
        self.assertLess(own['available'], 1001000)
        self.assertEqual(self.balance(self.node.did)['did'], self.node.did)
        entries = len(self.ledger_entries())
        stranger = did_key_of(hashlib.sha256(b'a stranger').digest())
        # A DID this node never saw would start full, like any submitter; reading it (or any
        # balance) writes nothing.
        self.assertEqual(self.balance(stranger),
                         {'did': stranger, 'available': 1000000, 'held': 0})
        self.balance()
        self.assertEqual(len(self.ledger_entries()), entries, 'a balance read wrote an entry')
        for bad in ('alice', 'did:key:foo', 'did:web:example.org', did_key_of(bytes(32))[:-3]):
            with self.subTest(did=bad):
                self.assertError(self.node.call('GET', '/v1/ledger/balance/' + bad), 400,
                                 'invalid_argument', bad, 'not a DID')

    def test_market_job_escrow_verification_and_refund(self):
        # Placement remote on a node without peers: the job is escrowed and waits for bids.
        cid = self.node.module('hello')
        before = self.balance()
        job = self.node.post_job({'module': cid, 'placement': 'remote',
                                  'verification': 'replicate(3)',
                                  'requirements': {'max_price': 1000}})
        self.assertEqual(job.status, 201, job)
        job = job.json()
        self.cancel_later(job['id'])
        self.assertEqual(job['spec']['verification'], 'replicate(3)')
        self.assertEqual(job['placement'], 'market')
        # (1000 + 1% network fee) x 3 replicas. Credits regenerate meanwhile (100000 an hour:
        # a few per read), so `available` is compared within a margin.
        held = self.balance()
        self.assertEqual(held['held'], 3030)
        self.assertLessEqual(abs(held['available'] - (before['available'] - 3030)), 1000, held)

        def entry(kind):
            return [e for e in self.ledger_entries(f'&did={self.node.did}')
                    if e['kind'] == kind and e.get('job') == job['id']]

        escrow = entry('escrow')
        self.assertEqual(len(escrow), 1, escrow)
        self.assertEqual(sorted(p['amount'] for p in escrow[0]['postings']), [-3030, 3030])
        self.assertEqual(escrow[0]['postings'][1]['account'], 'escrow:' + job['id'])
        self.assertEqual(self.node.cancel(job['id']).status, 200)
        wait_until(lambda: self.balance()['held'] == 0, 10, 'the escrow to be refunded')
        self.assertLessEqual(abs(self.balance()['available'] - before['available']), 1000)
        refund = entry('refund')
        self.assertEqual(len(refund), 1, refund)
        self.assertIn({'account': self.node.did, 'amount': 3030}, refund[0]['postings'])
        # The same spelling every time: "replicate" is replicate(3).
        r = self.node.post_job({'module': cid, 'placement': 'remote', 'verification': 'replicate'})
        self.assertEqual(r.status, 201, r)
        self.cancel_later(r.json()['id'])
        self.assertEqual(r.json()['spec']['verification'], 'replicate(3)')
        self.assertEqual(self.node.cancel(r.json()['id']).status, 200)
        for bad, fragment in (('replicate(10)', 'out of range'), ('Hash', "write 'hash'"),
                              ('quorum', 'unknown mode')):
            with self.subTest(verification=bad):
                self.assertError(self.node.post_job({'module': cid, 'verification': bad}), 400,
                                 'invalid_argument', '/verification', fragment)
        # More than the submitter has: refused before anything is stored or announced.
        jobs = len(self.node.list_all())
        m = self.assertError(
            self.node.post_job({'module': cid, 'placement': 'remote',
                                'verification': 'replicate(3)',
                                'requirements': {'max_price': 10**12}}),
            409, 'failed_precondition', 'insufficient credit', self.node.did, '--max-price')
        self.assertIn('3 replicas', m)
        self.assertEqual(len(self.node.list_all()), jobs)
        wait_until(lambda: self.balance()['held'] == 0, 10, 'every escrow to be refunded')

    def test_ledger_history_pages_and_verify(self):
        # A few entries of every kind this node writes on its own: escrow and refund.
        for _ in range(3):
            r = self.node.post_job({'module': self.node.module('hello'), 'placement': 'remote',
                                    'requirements': {'max_price': 10}})
            self.assertEqual(r.status, 201, r)
            self.cancel_later(r.json()['id'])
            self.assertEqual(self.node.cancel(r.json()['id']).status, 200)
        wait_until(lambda: self.balance()['held'] == 0, 10, 'the escrows to be refunded')
        everything = self.ledger_entries()
        self.assertGreaterEqual(len(everything), 7)
        seqs = [e['seq'] for e in everything]
        self.assertEqual(seqs, list(range(len(seqs), 0, -1)), 'newest first, no gaps')
        for newer, older in zip(everything, everything[1:]):
            self.assertEqual(newer['prev_hash'], older['hash'])
            self.assertEqual(newer['signer'], self.node.did)
        self.assertEqual(everything[-1]['prev_hash'], '')
        # Pages of 2 cover the same list.
        paged, before = [], None
        while True:
            r = self.node.call('GET', '/v1/ledger/history?limit=2' +
                               (f'&before={before}' if before else ''))
            self.assertEqual(r.status, 200, r)
            page = r.json()
            paged += page['entries']
            if 'next_before' not in page:
                break
            self.assertEqual(page['next_before'], page['entries'][-1]['seq'])
            before = page['next_before']
        self.assertEqual(paged, everything)
        # By DID: this node's own entries (all of them here) and a stranger's (none).
        mine = self.ledger_entries(f'&did={self.node.did}')
        self.assertTrue(mine)
        self.assertTrue(all(any(p['account'] == self.node.did for p in e['postings'])
                            for e in mine))
        stranger = did_key_of(hashlib.sha256(b'nobody').digest())
        self.assertEqual(self.ledger_entries(f'&did={stranger}'), [])
        for q, what in (('limit=0', 'limit=0'), ('limit=1001', 'limit=1001'),
                        ('limit=ten', 'limit=ten'), ('before=0', 'before=0'),
                        ('before=-2', 'before=-2'), ('before=x', 'before=x'),
                        ('did=bob', 'did=bob'), ('did=did:key:z6Mk', 'not a DID')):
            with self.subTest(query=q):
                self.assertError(self.node.call('GET', '/v1/ledger/history?' + q), 400,
                                 'invalid_argument', what)
        r = self.node.call('GET', '/v1/ledger/verify')
        self.assertEqual(r.status, 200, r)
        report = r.json()
        self.assertEqual(report['ok'], True, report)
        self.assertGreaterEqual(report['entries'], len(everything))
        self.assertEqual(report['owner'], self.node.did)
        self.assertGreaterEqual(report['minted'], 1000000)  # the start, and what regenerated
        self.assertNotIn('problem', report)
        # No executor has worked for this node.
        r = self.node.call('GET', '/v1/reputation')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {'executors': []})

    def test_node_info(self):
        info = self.node.info()
        self.assertEqual(info['did'], self.node.did)
        self.assertTrue(info['did'].startswith('did:key:z'), info['did'])
        self.assertEqual(info['engine'], 'interp')
        self.assertEqual(info['workers'], 2)
        self.assertIsInstance(info['version'], str)
        self.assertGreaterEqual(info['uptime_seconds'], 0)
        stats = info['stats']
        for field in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'completed',
                      'max_concurrent', 'load', 'fuel_per_second', 'fuel_used_total', 'draining'):
            self.assertIn(field, stats)
        self.assertEqual(stats['max_concurrent'], 2)
        self.assertEqual(stats['draining'], False)
        self.assertEqual(stats['completed'],
                         stats['succeeded'] + stats['failed'] + stats['cancelled'])
        # The node's address and token files.
        with open(os.path.join(self.data_dir, 'meshd.url')) as f:
            self.assertEqual(f.read(), self.node.url + '\n')
        self.assertEqual(os.stat(os.path.join(self.data_dir, 'api.token')).st_mode & 0o777, 0o600)
        self.assertGreaterEqual(len(self.node.token), 32)

    def test_node_profile(self):
        # Collected and measured in the background after start: wait for the speed score.
        deadline = time.monotonic() + 60
        while True:
            r = self.node.call('GET', '/v1/node/profile')
            self.assertEqual(r.status, 200, r)
            profile = r.json()
            if profile['ready'] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertTrue(profile['ready'], profile)
        self.assertGreaterEqual(profile['cores'], 1)
        self.assertGreaterEqual(profile['threads'], profile['cores'])
        self.assertGreater(profile['memory_total_bytes'], 0)
        self.assertGreater(profile['disk_free_bytes'], 0)
        self.assertTrue(profile['cpu_model'])
        self.assertEqual(profile['kernel'], os.uname().release)
        with open('/proc/cpuinfo') as f:
            flags = next((line.split(':', 1)[1].split() for line in f
                          if line.startswith(('flags', 'Features'))), [])
        self.assertEqual('avx2' in profile['isa'], 'avx2' in flags)
        self.assertEqual(profile['capabilities'][:len(profile['isa'])], profile['isa'])
        speed = profile['speed']
        self.assertEqual(speed['engine'], 'interp')
        self.assertEqual(speed['source'], 'measured')
        self.assertGreater(speed['fuel_per_second'], 0)
        # The score is cached for the next start on this CPU, version, engine and kernel.
        with open(os.path.join(self.data_dir, 'speed.json')) as f:
            cached = json.load(f)
        self.assertEqual(cached['fuel_per_second'], speed['fuel_per_second'])
        self.assertEqual(cached['key']['engine'], 'interp')

    def test_stats_and_metrics_count_jobs(self):
        before, text0 = self.node.stats(), self.node.metrics()
        ok0 = metric(text0, 'mesh_jobs_finished_total', state='succeeded') or 0
        bad0 = metric(text0, 'mesh_jobs_finished_total', state='failed') or 0
        sub0 = metric(text0, 'mesh_jobs_submitted_total')
        runs0 = metric(text0, 'mesh_job_run_seconds_count') or 0
        ids = [self.node.submit('hello')['id'] for _ in range(3)]
        ids.append(self.node.submit('trap', args=['divzero'])['id'])
        states = [self.node.wait_job(i)['state'] for i in ids]
        self.assertEqual(states, ['succeeded'] * 3 + ['failed'])
        after, text = self.node.stats(), self.node.metrics()
        self.assertEqual(after['succeeded'] - before['succeeded'], 3)
        self.assertEqual(after['failed'] - before['failed'], 1)
        # The node is shared with the class's other tests: a job they left may be cancelled
        # meanwhile, so `completed` is checked against its parts.
        self.assertEqual(after['completed'] - before['completed'],
                         4 + after['cancelled'] - before['cancelled'])
        self.assertGreater(after['fuel_used_total'], before['fuel_used_total'])
        self.assertEqual(metric(text, 'mesh_jobs_submitted_total'), sub0 + 4)
        self.assertEqual(metric(text, 'mesh_jobs_finished_total', state='succeeded'), ok0 + 3)
        self.assertEqual(metric(text, 'mesh_jobs_finished_total', state='failed'), bad0 + 1)
        self.assertEqual(metric(text, 'mesh_job_run_seconds_count'), runs0 + 4)
        self.assertEqual(metric(text, 'mesh_job_run_seconds_bucket', le='+Inf'), runs0 + 4)
        self.assertIsNotNone(metric(text, 'mesh_job_run_seconds_sum'))
        self.assertEqual(metric(text, 'mesh_jobs_queued'), 0)
        self.assertEqual(metric(text, 'mesh_jobs_running'), 0)
        self.assertEqual(metric(text, 'mesh_jobs_max_concurrent'), 2)
        self.assertEqual(metric(text, 'mesh_compiles_queued'), 0)  # an interp node compiles nothing
        self.assertEqual(self.node.info()['stats']['compiles'],
                         {'queued': 0, 'running': 0, 'compiled': 0, 'failed': 0, 'killed': 0})
        self.assertGreater(metric(text, 'process_resident_memory_bytes'), 0)
        self.assertIn('# TYPE mesh_jobs_submitted_total counter', text)
        self.assertIn('# TYPE mesh_job_run_seconds histogram', text)
        self.assertIn('# TYPE mesh_jobs_queued gauge', text)
        # Histogram buckets are cumulative.
        buckets = [(line.split('le="')[1].split('"')[0], float(line.rsplit(' ', 1)[1]))
                   for line in text.splitlines()
                   if line.startswith('mesh_job_run_seconds_bucket')]
        self.assertGreater(len(buckets), 2)
        counts = [c for _, c in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(buckets[-1][0], '+Inf')
        r = self.node.call('GET', '/metrics')
        self.assertTrue(r.headers['Content-Type'].startswith('text/plain'), r.headers)
        # The API counts its own requests.
        self.assertGreater(metric(text, 'mesh_http_requests_total', route='/v1/jobs',
                                  code='201'), 0)

    # --- the token ----------------------------------------------------------------------------

    def test_unauthenticated_upload_is_refused_before_its_body(self):
        # Only the header of a 1 GiB upload is sent: the 401 must come without the body.
        with socket.create_connection((self.node.host, self.node.port), timeout=10) as sock:
            sock.sendall(b'POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                         b'Content-Length: 1073741824\r\n\r\n' + b'x' * 1000)
            answer = b''
            while b'\r\n\r\n' not in answer:
                chunk = sock.recv(4096)
                self.assertTrue(chunk, f'connection closed without an answer: {answer!r}')
                answer += chunk
        self.assertTrue(answer.startswith(b'HTTP/1.1 401'), answer)
        self.assertEqual(os.listdir(os.path.join(self.data_dir, 'uploads')), [])

    def test_routes_need_the_token(self):
        job = self.node.submit_loop()
        self.cancel_later(job['id'])
        data = b'blob sent without a token ' + os.urandom(8)
        body = json.dumps({'module': self.node.module('hello')})
        requests = (('POST', '/v1/blobs', data), ('POST', '/v1/jobs', body),
                    ('DELETE', f'/v1/jobs/{job["id"]}', None),
                    ('DELETE', f'/v1/jobs/{cid_of(b"none")}', None))
        list0 = len(self.node.list_all())
        for method, path, payload in requests:
            for token, hint in ((False, 'Authorization: Bearer'),
                                ('0' * len(self.node.token), 'not this node'),
                                (self.node.token + 'x', 'not this node'),
                                (self.node.token[:-1], 'not this node')):
                with self.subTest(method=method, path=path, token=token):
                    r = self.node.call(method, path, payload, token=token)
                    self.assertError(r, 401, 'unauthenticated', hint)
                    self.assertEqual(r.headers['WWW-Authenticate'], 'Bearer realm="meshd"')
            r = self.node.call(method, path, payload,
                               headers={'Authorization': 'Basic ' + self.node.token}, token=False)
            self.assertEqual(r.status, 401, f'{method} {path} with Basic auth: {r}')
        # Nothing happened: no blob (nor a half-written upload), no job, the loop still runs.
        self.assertEqual(self.node.call('GET', '/v1/blobs/' + cid_of(data)).status, 404)
        self.assertEqual(os.listdir(os.path.join(self.data_dir, 'uploads')), [])
        self.assertEqual(len(self.node.list_all()), list0)
        self.assertIn(self.node.job(job['id'])['state'], ('queued', 'running'))
        # Reads need the token too (a job's env, args, inputs and outputs are not public), but
        # for the health route and the metrics.
        for path in ('/v1/jobs', f'/v1/jobs/{job["id"]}', f'/v1/jobs/{job["id"]}/history',
                     '/v1/openapi.json', '/v1/blobs/' + self.node.module('hello'), '/v1/peers',
                     '/v1/ledger/balance', '/v1/reputation', '/v1/events', '/v1/node/profile'):
            with self.subTest(read=path):
                self.assertError(self.node.call('GET', path, token=False), 401,
                                 'unauthenticated', 'Authorization: Bearer')
                self.assertEqual(self.node.call('GET', path, token='x' * 43).status, 401, path)
        for path in ('/v1/node', '/metrics'):
            self.assertEqual(self.node.call('GET', path, token=False).status, 200, path)
        # The scheme is case-insensitive (RFC 7235); two Authorization fields are refused.
        for scheme in ('bearer', 'BEARER', 'bEaReR'):
            r = self.node.call('GET', f'/v1/jobs/{job["id"]}', token=False,
                               headers={'Authorization': f'{scheme} {self.node.token}'})
            self.assertEqual(r.status, 200, f'{scheme}: {r}')
        conn = http.client.HTTPConnection(self.node.host, self.node.port, timeout=30)
        try:
            conn.putrequest('GET', f'/v1/jobs/{job["id"]}')
            conn.putheader('Authorization', 'Bearer ' + self.node.token)
            conn.putheader('Authorization', 'Bearer ' + self.node.token)
            conn.endheaders()
            r = conn.getresponse()
            self.assertEqual(r.status, 400)
            self.assertIn(b'more than one authorization', r.read().lower())
        finally:
            conn.close()
        # With the token it works.
        self.assertEqual(self.node.cancel(job['id']).json()['state'], 'cancelled')


# ------------------------------------------------------------------------------------------------
class PriorityTest(NodeTest):
    """One slot: higher priority runs first, FIFO within a priority; queued jobs cancel."""
    FLAGS = ('--engine', 'interp', '--max-concurrent', '1')
    INIT = True

    def test_priority_order(self):
        node = self.node
        blocker = node.submit_loop(priority=100)
        self.cancel_later(blocker['id'])
        node.wait_state(blocker['id'], 'running')
        order = [('low1', -5), ('low2', -5), ('mid', 0), ('first10', 10), ('high', 50),
                 ('second10', 10), ('dropped', 20)]
        jobs = {}
        for name, prio in order:
            jobs[name] = node.submit('hello', priority=prio, labels={'name': name})
            self.assertEqual(jobs[name]['state'], 'queued')
            self.assertEqual(jobs[name]['priority'], prio)
        stats = node.stats()
        self.assertEqual((stats['queued'], stats['running'], stats['load']), (7, 1, 1.0))
        self.assertEqual(metric(node.metrics(), 'mesh_jobs_queued'), 7)
        queued = node.list_all(state='queued')
        self.assertEqual(len(queued), 7)
        # A queued job cancels at once and never runs.
        r = node.cancel(jobs['dropped']['id'])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()['state'], 'cancelled')
        self.assertEqual(r.json()['reason'], 'cancelled by request before it ran')
        self.assertEqual(r.json()['attempts'], 0)
        self.assertEqual(node.stats()['queued'], 6)
        stream = node.events()
        self.addCleanup(stream.close)
        self.assertEqual(node.cancel(blocker['id']).json()['state'], 'cancelled')
        done = {name: node.wait_job(j['id']) for name, j in jobs.items()}
        self.assertEqual(done.pop('dropped')['state'], 'cancelled')
        self.assertTrue(all(j['state'] == 'succeeded' for j in done.values()), done)
        by_start = sorted(done, key=lambda n: parse_time(done[n]['started_at']))
        want = ['high', 'first10', 'second10', 'mid', 'low1', 'low2']
        self.assertEqual(by_start, want, 'started_at order')
        # The events say the same, in order, with increasing ids.
        name_of = {j['id']: n for n, j in jobs.items()}
        events = stream.until(ended(jobs['low2']['id']))
        running = [name_of[e['data']['job_id']] for e in events if e['event'] == 'job.running']
        self.assertEqual(running, want, 'job.running order')
        ids = [e['id'] for e in events]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertNotIn('dropped', [name_of.get(e['data'].get('job_id')) for e in events])


# ------------------------------------------------------------------------------------------------
class EventsTest(NodeTest):
    """GET /v1/events: lifecycle events in order, the job filter, replay and progress."""
    FLAGS = ('--engine', 'interp', '--max-concurrent', '2')

    def test_live_events_of_a_job(self):
        stream = self.node.events()
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.content_type, 'text/event-stream')
        job = self.node.submit('hello')
        got = [e for e in stream.until(ended(job['id'])) if e['data'].get('job_id') == job['id']]
        self.assertEqual([e['event'] for e in got], ['job.queued', 'job.running', 'job.succeeded'])
        ids = [e['id'] for e in got]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 3)
        for e in got:
            self.assertEqual(e['data']['seq'], e['id'])
            self.assertEqual(e['data']['type'], e['event'])
            self.assertEqual(e['data']['job_id'], job['id'])
            parse_time(e['data']['time'])
        self.assertEqual([e['data']['state'] for e in got], ['queued', 'running', 'succeeded'])
        self.assertEqual(got[0]['data']['module'], self.node.module('hello'))
        self.assertEqual(got[1]['data']['attempt'], 1)
        end = got[2]['data']
        self.assertEqual((end['outcome'], end['exit_code'], end['attempts']), ('ok', 0, 1))
        self.assertEqual(end['output_cid'], cid_of(HELLO))
        self.assertGreater(end['fuel_used'], 0)

    def test_failed_and_cancelled_events(self):
        stream = self.node.events()
        self.addCleanup(stream.close)
        trap = self.node.submit('trap', args=['oob'])
        e = stream.until(ended(trap['id']))[-1]
        self.assertEqual(e['event'], 'job.failed')
        self.assertEqual(e['data']['outcome'], 'trap')
        self.assertTrue(e['data']['reason'].startswith('trap: '))
        loop = self.node.submit_loop()
        self.cancel_later(loop['id'])
        stream.until(lambda e: e['event'] == 'job.running' and e['data']['job_id'] == loop['id'])
        self.node.cancel(loop['id'])
        e = stream.until(ended(loop['id']))[-1]
        self.assertEqual(e['event'], 'job.cancelled')
        self.assertEqual(e['data']['state'], 'cancelled')

    def test_event_id_from_before_a_restart_gets_a_gap_and_a_replay(self):
        job = self.node.submit('hello', wait='10s')
        # Ids restart with the process: an id this process never gave is from an earlier one.
        stream = self.node.events(f'?job={job["id"]}', headers={'Last-Event-ID': '99999999'})
        self.addCleanup(stream.close)
        got = stream.until(ended(job['id']))
        self.assertEqual(got[0]['event'], 'gap')
        self.assertEqual([e['event'] for e in got[1:]],
                         ['job.queued', 'job.running', 'job.succeeded'])

    def test_job_filter_and_replay(self):
        a = self.node.submit('hello', wait='10s')
        b = self.node.submit('noop', wait='10s')
        self.assertEqual((a['state'], b['state']), ('succeeded', 'succeeded'))
        # after=0 replays what the node kept; ?job= keeps to one job.
        for job in (a, b):
            stream = self.node.events(f'?job={job["id"]}&after=0')
            self.addCleanup(stream.close)
            got = stream.until(ended(job['id']))
            self.assertEqual([e['event'] for e in got],
                             ['job.queued', 'job.running', 'job.succeeded'])
            self.assertTrue(all(e['data']['job_id'] == job['id'] for e in got))
        # Everything replayed, in order.
        stream = self.node.events('?after=0')
        self.addCleanup(stream.close)
        everything = stream.until(ended(b['id']))
        ids = [e['id'] for e in everything]
        self.assertEqual(ids, list(range(1, len(ids) + 1)), 'ids count from 1 without gaps')
        self.assertLess(ids.index(ended_id(everything, a['id'])),
                        ids.index(ended_id(everything, b['id'])))
        # Resuming after an id (Last-Event-ID, or ?after=) gives what came after it.
        resume_at = ended_id(everything, a['id'])
        for query, headers in (('', {'Last-Event-ID': str(resume_at)}),
                               (f'?after={resume_at}', None)):
            stream = self.node.events(query, headers)
            self.addCleanup(stream.close)
            got = stream.until(ended(b['id']))
            self.assertEqual(got[0]['id'], resume_at + 1)
            self.assertEqual([e['id'] for e in got], ids[ids.index(resume_at) + 1:])
        # A live filtered stream sees only its job, even while others run.
        c = self.node.submit_loop()
        self.cancel_later(c['id'])
        stream = self.node.events(f'?job={c["id"]}')
        self.addCleanup(stream.close)
        d = self.node.submit('hello', wait='10s')
        self.assertEqual(d['state'], 'succeeded')
        self.node.cancel(c['id'])
        got = stream.until(ended(c['id']))
        self.assertTrue(all(e['data']['job_id'] == c['id'] for e in got), got)
        r = self.node.call('GET', '/v1/events?after=soon')
        self.assertEqual(r.status, 400, r)
        self.assertIn('not a number', r.json()['message'])

    def test_progress_events(self):
        job = self.node.submit('progress', args=['1000'], wait='10s')
        self.assertEqual(job['state'], 'succeeded', job)
        stream = self.node.events(f'?job={job["id"]}&after=0')
        self.addCleanup(stream.close)
        got = stream.until(ended(job['id']))
        progress = [e['data'] for e in got if e['event'] == 'job.progress']
        # The worker rate-limits progress frames (one per 50 ms, but always the first and the
        # first at 100%), so the events are a subset of the ten reports, in order.
        percents = [p['percent'] for p in progress]
        self.assertEqual(percents[0], 10)
        self.assertEqual(percents[-1], 100)
        self.assertEqual(percents, sorted(set(percents)))
        self.assertTrue(set(percents) <= set(range(10, 101, 10)), percents)
        for p in progress:
            self.assertEqual(p['message'], f'step {p["percent"] // 10}')
        fuels = [p['fuel'] for p in progress]
        self.assertEqual(fuels, sorted(fuels))
        # The run report keeps all ten.
        report = self.node.job(job['id'])['report']
        self.assertEqual([p['percent'] for p in report['progress']], list(range(10, 101, 10)))
        self.assertTrue(all(p['state'] == 'running' for p in progress))
        kinds = [e['event'] for e in got]
        self.assertEqual(kinds[:2], ['job.queued', 'job.running'])
        self.assertEqual(kinds[-1], 'job.succeeded')
        out = self.node.call('GET', f'/v1/jobs/{job["id"]}/output').body
        self.assertTrue(out.startswith(b'done '), out)


def ended_id(events, job_id):
    return next(e['id'] for e in events if ended(job_id)(e))


# ------------------------------------------------------------------------------------------------
class LoadTest(NodeTest):
    """1,000 submissions from 16 threads: distinct ids, each job succeeds exactly once."""
    FLAGS = ('--engine', 'interp', '--max-concurrent', '4')
    JOBS = 1000
    THREADS = 16

    def test_thousand_concurrent_submissions(self):
        node = self.node
        module = node.module('hello')

        def submit(i):
            r = node.post_job({'module': module, 'labels': {'i': str(i)}})
            if r.status != 201:
                raise AssertionError(f'submission {i}: {r}')
            return r.json()['id']

        with concurrent.futures.ThreadPoolExecutor(self.THREADS) as pool:
            ids = list(pool.map(submit, range(self.JOBS)))
        self.assertEqual(len(set(ids)), self.JOBS, 'every POST got its own job id')
        wait_until(lambda: node.stats()['completed'] >= self.JOBS, timeout=180,
                   what=f'{self.JOBS} jobs to finish', interval=0.2)
        jobs = node.list_all()
        self.assertEqual(len(jobs), self.JOBS)
        self.assertEqual({j['id'] for j in jobs}, set(ids), 'no job lost, none extra')
        self.assertEqual(len({j['seq'] for j in jobs}), self.JOBS)
        self.assertEqual(sorted(int(j['labels']['i']) for j in jobs), list(range(self.JOBS)))
        states = {}
        for j in jobs:
            states[j['state']] = states.get(j['state'], 0) + 1
        self.assertEqual(states, {'succeeded': self.JOBS})
        self.assertTrue(all(j['attempts'] == 1 for j in jobs))
        self.assertTrue(all(j['output_cid'] == cid_of(HELLO) for j in jobs))
        stats = node.stats()
        self.assertEqual((stats['completed'], stats['succeeded'], stats['failed'],
                          stats['cancelled'], stats['queued'], stats['running']),
                         (self.JOBS, self.JOBS, 0, 0, 0, 0))
        text = node.metrics()
        self.assertEqual(metric(text, 'mesh_jobs_submitted_total'), self.JOBS)
        self.assertEqual(metric(text, 'mesh_jobs_finished_total', state='succeeded'), self.JOBS)
        self.assertIsNone(metric(text, 'mesh_jobs_finished_total', state='failed'))
        self.assertEqual(metric(text, 'mesh_job_run_seconds_count'), self.JOBS)
        self.assertEqual(metric(text, 'mesh_jobs_queued'), 0)
        self.assertEqual(metric(text, 'mesh_http_requests_total', route='/v1/jobs', code='201'),
                         self.JOBS)
        # Every job has exactly job.queued, job.running, job.succeeded, in that order.
        stream = node.events('?after=0')
        self.addCleanup(stream.close)
        events = stream.until(lambda e: e['id'] == 3 * self.JOBS, timeout=60)
        self.assertEqual([e['id'] for e in events], list(range(1, 3 * self.JOBS + 1)))
        per_job = {}
        for e in events:
            per_job.setdefault(e['data']['job_id'], []).append(e['event'])
        self.assertEqual(set(per_job), set(ids))
        out_of_order = {i: kinds for i, kinds in per_job.items()
                        if kinds != ['job.queued', 'job.running', 'job.succeeded']}
        self.assertEqual(out_of_order, {}, f'{len(out_of_order)} jobs with other event sequences')


# ------------------------------------------------------------------------------------------------
class LifecycleTest(unittest.TestCase):
    """kill -9 and restart, SIGTERM drains, one daemon per data dir. Each test has its own node."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='mesh_node_api.')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data_dir = os.path.join(self.tmp, 'data')

    def new_node(self, *flags):
        node = Meshd(self.data_dir, ('--engine', 'interp', *flags))
        self.addCleanup(node.kill)
        return node.start()

    def primes_run_time(self, node, limit):
        job = node.submit('primes', args=[str(limit)], wait='60s')
        self.assertEqual(job['state'], 'succeeded', job)
        return job['run_ms'] / 1000

    def test_kill_9_and_restart_runs_every_job_exactly_once(self):
        node = self.new_node('--max-concurrent', '1')
        long_limit = 3000000
        # The first job runs long enough to be killed under; the others are short.
        specs = [long_limit] + [20000] * 19
        jobs = [node.submit('primes', args=[str(n)]) for n in specs]
        ids = [j['id'] for j in jobs]
        victim = ids[0]
        node.wait_state(victim, 'running')
        workers = node.children()
        self.assertGreater(len(workers), 0)
        self.assertEqual(node.kill_daemon(), -signal.SIGKILL)
        # The workers see their socket close and exit (one busy with a job may first finish it).
        wait_until(lambda: not node.live_workers(), timeout=60,
                   what=f'the old mesh-workers {workers} to exit')
        node.start()
        finished = {i: node.wait_job(i, timeout=120) for i in ids}
        for i, job in finished.items():
            self.assertEqual(job['state'], 'succeeded', job)
        self.assertEqual(finished[victim]['attempts'], 2, 'the killed job ran again')
        self.assertTrue(all(finished[i]['attempts'] == 1 for i in ids[1:]),
                        [finished[i]['attempts'] for i in ids])
        all_jobs = node.list_all()
        self.assertEqual(sorted(j['id'] for j in all_jobs), sorted(ids), 'no job lost or added')
        self.assertEqual(node.stats()['succeeded'], len(ids))
        self.assertEqual(node.stats()['completed'], len(ids))
        text = node.metrics()
        self.assertEqual(metric(text, 'mesh_jobs_requeued_total'), 1)
        self.assertEqual(metric(text, 'mesh_jobs_finished_total', state='succeeded'), len(ids))
        out = node.call('GET', f'/v1/jobs/{victim}/output').body
        self.assertEqual(out, b'primes<=3000000: 216816 last=2999999\n')
        stream = node.events(f'?job={victim}&after=0')
        self.addCleanup(stream.close)
        got = [e['event'] for e in stream.until(ended(victim))]
        self.assertEqual(got, ['job.requeued', 'job.running', 'job.succeeded'])

    def test_sigterm_lets_the_running_job_finish(self):
        node = self.new_node('--max-concurrent', '1', '--grace', '60s')
        running = node.submit('primes', args=['3000000'])
        queued = [node.submit('hello') for _ in range(3)]
        node.wait_state(running['id'], 'running')
        node.signal(signal.SIGTERM)
        wait_until(lambda: node.stats()['draining'], timeout=10, what='the node to drain')
        r = node.post_job({'module': node.module('hello')})
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()['code'], 'unavailable')
        self.assertIn('shutting down', r.json()['message'])
        self.assertEqual(node.wait_exit(60), 0, node.log())
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, 'meshd.url')))
        wait_until(lambda: not node.live_workers(), timeout=10, what='the workers to exit')
        node.start()
        first = node.job(running['id'])
        self.assertEqual(first['state'], 'succeeded', 'it finished inside the grace period')
        self.assertEqual(first['attempts'], 1)
        for job in queued:
            done = node.wait_job(job['id'])
            self.assertEqual(done['state'], 'succeeded')
            self.assertEqual(done['attempts'], 1, 'it stayed queued and ran once, after restart')
            self.assertGreater(parse_time(done['started_at']), parse_time(first['finished_at']))
        self.assertEqual(node.stats()['succeeded'], 4)
        node.signal(signal.SIGTERM)
        self.assertEqual(node.wait_exit(30), 0)

    def test_ctrl_c_to_the_process_group_drains_instead_of_failing_jobs(self):
        node = Meshd(self.data_dir, ('--engine', 'interp', '--max-concurrent', '1', '--grace',
                                     '60s'), new_session=True)
        self.addCleanup(node.kill)
        node.start()
        running = node.submit('primes', args=['3000000'])
        node.wait_state(running['id'], 'running')
        # What a terminal's Ctrl-C does: SIGINT to every process in the foreground group.
        os.killpg(node.proc.pid, signal.SIGINT)
        self.assertEqual(node.wait_exit(60), 0, node.log())
        node.start()
        done = node.job(running['id'])
        self.assertEqual(done['state'], 'succeeded', done)
        self.assertEqual(done['attempts'], 1, 'the workers did not die with the node')

    def test_sigterm_requeues_a_job_past_the_grace(self):
        node = self.new_node('--max-concurrent', '1', '--grace', '1s')
        job = node.submit_loop()
        node.wait_state(job['id'], 'running')
        t0 = time.monotonic()
        node.signal(signal.SIGTERM)
        self.assertEqual(node.wait_exit(20), 0, node.log())
        self.assertLess(time.monotonic() - t0, 10, 'meshd exits soon after the grace period')
        wait_until(lambda: not node.live_workers(), timeout=10, what='the workers to exit')
        node.start()
        again = node.job(job['id'])
        self.assertIn(again['state'], ('queued', 'running'), 'put back in the queue, not failed')
        self.assertNotIn('reason', again)
        running = node.wait_state(job['id'], 'running')
        self.assertEqual(running['attempts'], 2)
        self.assertEqual(node.cancel(job['id']).json()['state'], 'cancelled')
        self.assertEqual(node.stats()['failed'], 0)

    def test_one_daemon_per_data_dir(self):
        node = self.new_node()
        second = subprocess.run([MESHD, '--data-dir', self.data_dir, '--listen', '127.0.0.1:0',
                                 '--engine', 'interp'], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn('another meshd', second.stderr)
        self.assertIn(node.url, second.stderr, 'it names the running node')
        self.assertNotIn('ready', second.stdout)
        self.assertEqual(node.info()['did'], node.did, 'the first node is unharmed')


    def test_start_errors(self):
        def meshd(data_dir, *flags):
            return subprocess.run([MESHD, '--data-dir', data_dir, '--log-level', 'warn', *flags],
                                  capture_output=True, text=True, timeout=60)

        r = meshd(self.data_dir, '--listen', '127.0.0.1:0', '--max-concurrent', 'many')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn('--max-concurrent', r.stderr)
        r = meshd(self.data_dir, '--listen', 'localhost')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn('needs a port', r.stderr)
        bad = os.path.join(self.tmp, 'bad')
        os.makedirs(bad, mode=0o700)
        with open(os.path.join(bad, 'meshd.toml'), 'w') as f:
            f.write('[compute]\nmax_concurent = 2\n')
        r = meshd(bad, '--listen', '127.0.0.1:0')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn('meshd.toml: compute.max_concurent is not a known setting', r.stderr)
        # A port that is taken: a clear error, and the data dir is free again afterwards.
        node = self.new_node()
        other = os.path.join(self.tmp, 'other')
        r = meshd(other, '--listen', f'127.0.0.1:{node.port}', '--engine', 'interp')
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(f'cannot listen on 127.0.0.1:{node.port}', r.stderr)
        self.assertEqual(r.stdout, '')
        second = Meshd(other, ('--engine', 'interp'))
        self.addCleanup(second.kill)
        second.start()
        self.assertNotEqual(second.did, node.did)

# ------------------------------------------------------------------------------------------------
class CliTest(NodeTest):
    """The `mesh` CLI against a running node, on the default engine (aot when a C compiler
    exists: gcc compiles each module on first use, into a cache dir of this test's own)."""
    FLAGS = ('--max-concurrent', '2')
    INIT = True

    @classmethod
    def setUpClass(cls):
        cache = tempfile.mkdtemp(prefix='mesh_node_api_cache.')
        cls.addClassCleanup(shutil.rmtree, cache, True)
        # Nothing from the caller's environment may point the CLI at another node or token.
        cls.ENV = {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}
        cls.ENV['XDG_CACHE_HOME'] = cache
        super().setUpClass()
        # The speed score's calibration kernel compiles first (aot): until it is done, a job's
        # module waits in the compile queue and runs on the interpreter (tiering), which the
        # engine checks below would take for a wrong engine.
        wait_until(lambda: cls.node.call('GET', '/v1/node/profile').json().get('ready'), 60,
                   'the node profile (and its calibration compile) to be ready')

    def mesh(self, *args, stdin=None, timeout=120):
        return subprocess.run([MESH, '--data-dir', self.data_dir, *args], capture_output=True,
                              timeout=timeout, input=stdin, env=self.ENV)

    def test_node_profile(self):
        deadline = time.monotonic() + 60
        while True:
            r = self.mesh('node', 'profile', '--json')
            self.assertEqual(r.returncode, 0, r.stderr)
            profile = json.loads(r.stdout)
            if profile['ready'] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        r = self.mesh('node', 'profile')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = r.stdout.decode()
        self.assertIn(f'cpu:          {profile["cpu_model"]}', text)
        self.assertIn(f'{profile["cores"]} cores, {profile["threads"]} threads', text)
        self.assertRegex(text, r'speed: +[0-9.e+]+ x 10\^9 fuel/s \((aot|interp), measured\)')
        self.assertIn(f'kernel {os.uname().release}', text)

    def test_default_engine(self):
        cc = os.environ.get('CC') or 'cc'
        want = 'aot' if shutil.which(cc) else 'interp'
        self.assertEqual(self.node.engine, want)
        self.assertEqual(self.node.info()['engine'], want)

    def test_submit_follow_draws_progress_from_events(self):
        # stderr is not a terminal here, so each progress report is one line.
        r = self.mesh('submit', os.path.join(EXAMPLES, 'progress.wasm'), '--follow',
                      '--', '200000')
        self.assertEqual(r.returncode, 0, r.stderr)
        err = r.stderr.decode().splitlines()
        bars = [line for line in err if line.startswith('[')]
        self.assertTrue(bars, err)
        self.assertTrue(bars[-1].startswith('[####################] 100%'), bars)
        percents = [int(line.split('] ')[1].split('%')[0]) for line in bars]
        self.assertEqual(percents, sorted(percents))
        self.assertIn('job.succeeded', err)
        self.assertIn('state:       succeeded', r.stdout.decode().splitlines())

    def test_submit_mount_and_output_dir(self):
        """Issue 17 through the CLI: a host directory mounted (uploaded as a tree), the output
        directory read back with `mesh output --dir`; then the same tree read by the Rust
        example (wordfreq, Debian's rustc) on the node."""
        tree = os.path.join(self.tmp, 'cli_tree')
        os.makedirs(os.path.join(tree, 'a'))
        for rel, data in (('a/x.txt', b'one'), ('b.txt', b'two!')):
            with open(os.path.join(tree, rel), 'wb') as f:
                f.write(data)
        os.symlink('a/x.txt', os.path.join(tree, 'l'))
        dir_sum = os.path.join(EXAMPLES, 'dir_sum.wasm')
        for flag, message in (('cli_tree:data', 'PATH_OR_CID:/GUEST'),
                              (os.path.join(self.tmp, 'nothing') + ':/d', 'neither')):
            r = self.mesh('submit', dir_sum, '--mount', flag)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(message, r.stderr.decode())
        r = self.mesh('submit', dir_sum, '--mount', tree + ':/data', '--output-dir', '/out',
                      '--wait')
        job_id = r.stdout.decode().splitlines()[0]
        job = json.loads(self.mesh('--json', 'job', job_id).stdout)
        self.assertEqual(job['spec']['mounts'][0]['path'], '/data')
        self.assertEqual(job['spec']['output_dir'], '/out')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.mesh('output', job_id).stdout, b'2 files, 7 bytes, sum 701\n')
        dest = os.path.join(self.tmp, 'cli_tree_out')
        out = self.mesh('output', job_id, '--dir', dest)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(dest, 'summary.txt'), 'rb') as f:
            self.assertEqual(f.read(), b'a/\na/x.txt 3 322\nb.txt 4 379\nl -> a/x.txt\n'
                                       b'total: 2 files, 7 bytes, sum 701\n')
        wordfreq = os.path.join(EXAMPLES, 'wordfreq.wasm')
        if not os.path.exists(wordfreq):
            self.skipTest('no Rust toolchain for wasm32-wasi (rustc, libstd-rust-dev-wasm32)')
        r = self.mesh('submit', wordfreq, '--mount', tree + ':/data', '--output-dir', '/out',
                      '--wait')
        self.assertEqual(r.returncode, 0, r.stderr)
        job_id = r.stdout.decode().splitlines()[0]
        self.assertEqual(self.mesh('output', job_id).stdout,
                         b'wordfreq: 2 files, 2 words, 2 distinct; report in /out/wordfreq.txt\n')
        dest = os.path.join(self.tmp, 'wordfreq_out')
        self.assertEqual(self.mesh('output', job_id, '--dir', dest).returncode, 0)
        with open(os.path.join(dest, 'wordfreq.txt'), 'rb') as f:
            self.assertEqual(f.read(), b'1 one\n1 two\nfiles 2 words 2\n')

    def test_split_submit_chunks_proof_and_partials(self):
        text = b''.join(b'word %d and more\n' % i for i in range(30))
        path = os.path.join(self.tmp, 'text.txt')
        with open(path, 'wb') as f:
            f.write(text)
        r = self.mesh('submit', os.path.join(EXAMPLES, 'wordcount.wasm'), '--input', path,
                      '--split', 'lines:3', '--merge',
                      'wasm:' + os.path.join(EXAMPLES, 'wordcount_merge.wasm'), '--wait')
        self.assertEqual(r.returncode, 0, r.stderr)
        job_id = r.stdout.decode().splitlines()[0]
        out = self.mesh('output', job_id)
        self.assertEqual(out.stdout, b'30 120 %d\n' % len(text))
        chunks = self.mesh('chunks', job_id)
        self.assertEqual(chunks.returncode, 0, chunks.stderr)
        self.assertIn('3/3 chunks done, succeeded', chunks.stdout.decode())
        self.assertIn('merkle root: ', chunks.stdout.decode())
        for i in range(3):
            proof = self.mesh('chunks', job_id, '--proof', str(i))
            self.assertEqual(proof.returncode, 0, proof.stderr)
            self.assertIn('verified:    yes', proof.stdout.decode())
        bad = self.mesh('chunks', job_id, '--proof', '3')
        self.assertEqual(bad.returncode, 2, bad.stderr)  # bad input: no chunk 3
        for flags, message in ((['--split', 'lines:0'], 'positive integer'),
                               (['--split', 'halves'], 'must be bytes:N'),
                               (['--merge', 'concat'], 'need --split')):
            r = self.mesh('submit', os.path.join(EXAMPLES, 'wordcount.wasm'), '--input', path,
                          *flags)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(message, r.stderr.decode())
        # Partial outputs of a long job, in order.
        r = self.mesh('submit', os.path.join(EXAMPLES, 'progress.wasm'), '--wait', '--',
                      '20000')
        self.assertEqual(r.returncode, 0, r.stderr)
        job_id = r.stdout.decode().splitlines()[0]
        cat = self.mesh('partials', job_id, '--cat')
        self.assertEqual(cat.stdout, b''.join(b'partial %d\n' % i for i in range(1, 11)))
        listing = self.mesh('partials', job_id)
        self.assertIn('10 partial output(s)', listing.stdout.decode())

    def test_submit_wait_output(self):
        data = os.urandom(100000) + b'\n'
        path = os.path.join(self.tmp, 'input.bin')
        with open(path, 'wb') as f:
            f.write(data)
        r = self.mesh('submit', os.path.join(EXAMPLES, 'echo.wasm'), '--input', path, '--wait')
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        job_id = lines[0]
        self.assertRegex(job_id, CID_RE)
        self.assertIn('state:       succeeded', lines)
        self.assertIn('outcome:     ok', lines)
        out = self.mesh('output', job_id)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, data)
        target = os.path.join(self.tmp, 'out.bin')
        self.assertEqual(self.mesh('output', job_id, '-o', target).returncode, 0)
        with open(target, 'rb') as f:
            self.assertEqual(f.read(), data)
        # --json everywhere parses, and agrees with the API.
        job = json.loads(self.mesh('job', job_id, '--json').stdout)
        self.assertEqual(job, self.node.job(job_id))
        self.assertEqual(job['output_cid'], cid_of(data))
        # An aot node runs a module on the interpreter while its compile waits in the queue
        # (tiering): echo's may wait behind an earlier test's (the Rust example's takes seconds).
        # The queue's counts are in the node's stats: a job submitted once it is empty waits for
        # its own compile and runs on aot.
        engines = {'interp'} if self.node.engine == 'interp' else {'aot', 'interp'}
        self.assertIn(job['report']['engine'], engines)
        if self.node.engine == 'aot':
            def queue_empty():
                c = self.node.info()['stats']['compiles']
                return c['queued'] == 0 and c['running'] == 0
            wait_until(queue_empty, 120, 'the compile queue to empty')
            r = self.mesh('submit', os.path.join(EXAMPLES, 'echo.wasm'), '--wait', '--input',
                          path)
            self.assertEqual(r.returncode, 0, r.stderr)
            again = self.node.job(r.stdout.decode().splitlines()[0])
            self.assertEqual(again['report']['engine'], 'aot')
            self.assertGreaterEqual(self.node.info()['stats']['compiles']['compiled'], 1)
        jobs = json.loads(self.mesh('jobs', '--json').stdout)
        self.assertIn(job_id, [j['id'] for j in jobs['jobs']])
        jobs = json.loads(self.mesh('--json', 'jobs', '--state', 'succeeded', '--limit',
                                    '1000').stdout)
        self.assertTrue(all(j['state'] == 'succeeded' for j in jobs['jobs']))
        # Filters the node applies, values percent-encoded by the CLI (a space, '&' and '=').
        labelled = self.node.submit('hello', labels={'cli test': 'a&b=c'})
        jobs = json.loads(self.mesh('--json', 'jobs', '--label', 'cli test=a&b=c').stdout)
        self.assertEqual([j['id'] for j in jobs['jobs']], [labelled['id']])
        self.assertEqual(json.loads(self.mesh('--json', 'jobs', '--label', 'cli test=x').stdout)
                         ['jobs'], [])
        r = self.mesh('jobs', '--submitter', 'nobody')
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('expected a did:key', r.stderr.decode())
        stats = json.loads(self.mesh('stats', '--json').stdout)
        self.assertEqual(stats['did'], self.node.did)
        self.assertGreaterEqual(stats['stats']['succeeded'], 1)
        # Without --json: a table and a summary.
        table = self.mesh('jobs').stdout.decode()
        self.assertTrue(table.startswith('ID'), table)
        self.assertIn(job_id, table)
        self.assertIn('node:        ' + self.node.did, self.mesh('stats').stdout.decode())
        # Submit without --wait, then wait with `mesh job --wait`.
        r = self.mesh('submit', os.path.join(EXAMPLES, 'primes.wasm'), '--', '1000')
        self.assertEqual(r.returncode, 0, r.stderr)
        later = r.stdout.decode().strip()
        self.assertRegex(later, CID_RE)
        r = self.mesh('job', later, '--wait', '--json')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['state'], 'succeeded')
        self.assertEqual(self.mesh('output', later).stdout, b'primes<=1000: 168 last=997\n')
        # Submitting the same module by CID uploads nothing.
        r = self.mesh('--json', 'submit', self.node.module('hello'), '--wait')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['output_cid'], cid_of(HELLO))

    def test_submit_exit_codes(self):
        r = self.mesh('submit', os.path.join(EXAMPLES, 'trap.wasm'), '--wait', '--', 'unreachable')
        self.assertEqual(r.returncode, 11, r)
        job_id = r.stdout.decode().splitlines()[0]
        self.assertEqual(self.node.job(job_id)['outcome'], 'trap')
        self.assertEqual(self.mesh('job', job_id).returncode, 11)
        r = self.mesh('submit', os.path.join(EXAMPLES, 'loop.wasm'), '--fuel', '1000000',
                      '--wait')
        self.assertEqual(r.returncode, 12, r)
        r = self.mesh('submit', os.path.join(EXAMPLES, 'trap.wasm'), '--wait', '--', 'exit42')
        self.assertEqual(r.returncode, 10, r)
        r = self.mesh('submit', os.path.join(self.tmp, 'no-such.wasm'))
        self.assertEqual(r.returncode, 3, r)
        self.assertIn(b'neither a file nor a CID', r.stderr)

    def test_cancel(self):
        r = self.mesh('submit', os.path.join(EXAMPLES, 'loop.wasm'), '--fuel', str(BIG_FUEL),
                      '--timeout', '120s')
        self.assertEqual(r.returncode, 0, r.stderr)
        job_id = r.stdout.decode().strip()
        self.assertRegex(job_id, CID_RE)
        self.cancel_later(job_id)
        self.node.wait_state(job_id, 'running', timeout=60)
        r = self.mesh('cancel', job_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), f'{job_id} cancelled\n')
        self.assertEqual(self.node.job(job_id)['state'], 'cancelled')
        self.assertEqual(self.mesh('job', job_id).returncode, 9)
        r = self.mesh('cancel', job_id)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'already', r.stderr)

    def test_ledger_commands_and_submit_verify(self):
        hello = os.path.join(EXAMPLES, 'hello.wasm')
        r = self.mesh('--json', 'submit', hello, '--remote', '--verify', 'replicate(3)',
                      '--max-price', '500')
        self.assertEqual(r.returncode, 0, r.stderr)
        job = json.loads(r.stdout)
        self.cancel_later(job['id'])
        self.assertEqual(job['spec']['verification'], 'replicate(3)')
        self.assertEqual(job['spec']['requirements']['max_price'], 500)
        r = self.mesh('ledger', 'balance')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(),
                         rf'^{re.escape(self.node.did)}: \d+ available, 1515 held\n$')
        r = self.mesh('--json', 'ledger', 'history', '--limit', '5')
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = json.loads(r.stdout)['entries']
        self.assertIn(('escrow', job['id']), [(e['kind'], e.get('job')) for e in entries])
        self.assertEqual(self.mesh('cancel', job['id']).returncode, 0)
        wait_until(lambda: json.loads(self.mesh('--json', 'ledger', 'balance',
                                                self.node.did).stdout)['held'] == 0,
                   10, 'the escrow to be refunded')
        r = self.mesh('ledger', 'history', '--did', self.node.did)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertRegex(lines[0], r'^#\d+ \S+Z (refund|regen) ')
        self.assertTrue(any(f' escrow job={job["id"]} {self.node.did} -1515, escrow:' in line
                            for line in lines), lines)
        r = self.mesh('ledger', 'verify')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), rf'^ledger OK: \d+ entries, head [0-9a-f]{{64}}, ')
        self.assertEqual(json.loads(self.mesh('--json', 'ledger', 'verify').stdout)['ok'], True)
        r = self.mesh('--json', 'reputation')
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, {'executors': []}), r.stderr)
        # Bad input names the flag or the value.
        r = self.mesh('submit', hello, '--verify', 'replicate(12)')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b'--verify: ', r.stderr)
        r = self.mesh('submit', hello, '--remote', '--max-price', str(10**13))
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn(b'insufficient credit', r.stderr)
        r = self.mesh('ledger', 'balance', 'did:example:123')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b'not a DID', r.stderr)
        r = self.mesh('ledger', 'history', '--limit', '0')
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(self.mesh('ledger').returncode, 2)
        help_text = self.mesh('ledger', '--help').stdout.decode()
        self.assertIn('--offline', self.mesh('ledger', 'verify', '--help').stdout.decode())
        self.assertIn('no node answers', help_text)

    def test_node_down_and_bad_token(self):
        r = self.mesh('stats', '--node', 'http://127.0.0.1:1')
        self.assertEqual(r.returncode, 8, r)
        err = r.stderr.decode()
        self.assertEqual(err.count('\n'), 1, err)
        self.assertTrue(err.startswith('mesh: error: '), err)
        r = subprocess.run([MESH, '--data-dir', self.data_dir, 'submit',
                            os.path.join(EXAMPLES, 'hello.wasm')], capture_output=True,
                           env=dict(self.ENV, MESH_TOKEN='f' * 64), timeout=60)
        self.assertEqual(r.returncode, 5, r)
        self.assertIn(b'not this node', r.stderr)


def main():
    global MESHD, MESH, EXAMPLES
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--meshd', required=True)
    parser.add_argument('--mesh', required=True)
    parser.add_argument('--examples', required=True)
    args, rest = parser.parse_known_args()
    MESHD, MESH, EXAMPLES = (os.path.abspath(args.meshd), os.path.abspath(args.mesh),
                             os.path.abspath(args.examples))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
