#!/usr/bin/env python3
"""Hostile clients against a real meshd's HTTP API (issue 13, findings 1, 4, 5, 7 and 9's
Authorization item): after every attack, GET /v1/node must answer and a hello job must succeed.
Slow attacks run against short configured deadlines and small connection caps, so the whole
file takes seconds. Standard library only; the process and HTTP helpers come from
node_api_test.py.

Usage: hostile_api_test.py --meshd PATH --mesh PATH --examples DIR [unittest arguments...]
"""

import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the import below
import node_api_test as base  # noqa: E402  (MESHD, MESH and EXAMPLES are set in main())
from node_api_test import Meshd, metric  # noqa: E402

# Short limits, so that slow attacks are cut within a second or two.
CONFIG = '''[api]
idle_timeout = "3s"
header_timeout = "1s"
body_timeout = "1s"
min_body_rate = "64KiB"
max_connections = 48
max_connections_per_address = 16
'''


def read_answer(sock, timeout=10):
    """Everything the server sends until it closes (or `timeout`): (status or None, bytes)."""
    sock.settimeout(timeout)
    data = b''
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b'\r\n\r\n' in data:
                head, _, body = data.partition(b'\r\n\r\n')
                length = [int(line.split(b':')[1]) for line in head.split(b'\r\n')
                          if line.lower().startswith(b'content-length:')]
                if length and len(body) >= length[0]:
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    status = int(data.split(b' ')[1]) if data.startswith(b'HTTP/1.1 ') else None
    return status, data


def closed_within(sock, seconds):
    """True if the server closes (EOF or reset) the connection within `seconds`."""
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def trickle_until_cut(sock, pieces, seconds=6):
    """Sends `pieces` one at a time, each followed by a 0.2 s wait for the server to close, until
    it does or `seconds` pass: (whether it was cut, seconds taken)."""
    start = time.monotonic()
    for piece in pieces:
        if time.monotonic() - start >= seconds:
            break
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return True, time.monotonic() - start
        if closed_within(sock, 0.2):
            return True, time.monotonic() - start
    return False, time.monotonic() - start


class HostileApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='mesh_hostile_api.')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.data_dir = os.path.join(cls.tmp, 'data')
        os.makedirs(cls.data_dir, mode=0o700)
        with open(os.path.join(cls.data_dir, 'meshd.toml'), 'w') as f:
            f.write(CONFIG)
        cls.node = Meshd(cls.data_dir, ('--engine', 'interp', '--no-mesh'))
        cls.addClassCleanup(cls.node.kill)
        cls.node.start()

    def connect(self, source='127.0.0.1'):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect((self.node.host, self.node.port))
        return sock

    def raw(self, data, source='127.0.0.1', timeout=10):
        with self.connect(source) as sock:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered and closed before all of it was sent
            return read_answer(sock, timeout)

    def assertAlive(self, after):
        """The node answers its health route and runs a hello job."""
        self.assertTrue(self.node.running(), f'meshd died after {after}; log:\n{self.node.log()}')
        r = self.node.call('GET', '/v1/node', token=False, timeout=10)
        self.assertEqual(r.status, 200, f'GET /v1/node after {after}: {r}')
        job = self.node.submit('hello', wait='30s')
        self.assertEqual(job['state'], 'succeeded', f'hello job after {after}: {job}')

    def open_connections(self):
        """Admitted connections, the one reading the metrics included."""
        r = self.node.call('GET', '/metrics', timeout=10)
        return metric(r.body.decode(), 'mesh_http_connections') if r.status == 200 else 1e9

    def rejected(self, reason):
        return metric(self.node.metrics(), 'mesh_http_rejected_total', reason=reason) or 0

    def head(self, method, path, extra=b'', token=True):
        auth = b'Authorization: Bearer ' + self.node.token.encode() + b'\r\n' if token else b''
        return (method.encode() + b' ' + path.encode() + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
                auth + extra)

    # --- finding 1: trailers ---------------------------------------------------------------------

    def test_finding1_oversized_trailer(self):
        # The reproduction, word for word: the Host is refused first (421).
        status, _ = self.raw(b'GET /v1/node HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked'
                             b'\r\n\r\n0\r\nX: ' + b'a' * 65600 + b'\r\n\r\n')
        self.assertEqual(status, 421)
        self.assertAlive('the trailer attack with Host: x')
        # With a good Host: GET takes no body, refused before it is read.
        status, data = self.raw(self.head('GET', '/v1/node', b'Transfer-Encoding: chunked\r\n\r\n'
                                          b'0\r\nX: ' + b'a' * 65600 + b'\r\n\r\n', token=False))
        self.assertEqual(status, 413, data[:300])
        self.assertIn(b'takes no request body', data)
        self.assertAlive('a chunked GET with a 64 KiB trailer field')
        # On a route that takes a body, the trailer is held to the read buffer's bound: one
        # field over 64 KiB (Beast's own maximum, which made it throw) ...
        before = self.rejected('body_too_large')
        status, data = self.raw(self.head('POST', '/v1/jobs', b'Content-Type: application/json\r\n'
                                          b'Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX: ' +
                                          b'a' * 65600 + b'\r\n\r\n'))
        self.assertEqual(status, 413, data[:300])
        self.assertIn(b'trailer', data)
        # The socket closes (Beast's timer) before the handler counts it: wait for the count.
        base.wait_until(lambda: self.rejected('body_too_large') > before, 5,
                        'the body_too_large count')
        self.assertAlive('a POST with a 64 KiB trailer field')
        # ... and many small fields (171 MB of them took RSS from 29 to 240 MB).
        rss_before = self.rss()
        fields = b''.join(b'X-%d: %s\r\n' % (i, b'b' * 100) for i in range(20000))
        status, data = self.raw(self.head('POST', '/v1/jobs', b'Transfer-Encoding: chunked\r\n\r\n'
                                          b'2\r\n{}\r\n0\r\n' + fields + b'\r\n'))
        self.assertEqual(status, 413, data[:300])
        self.assertLess(self.rss() - rss_before, 20 << 20, 'trailer bytes must not be kept')
        self.assertAlive('2 MB of trailer fields')

    def rss(self):
        with open(f'/proc/{self.node.proc.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
        return 0

    # --- finding 4: numbers and JSON a parser throws on ------------------------------------------

    def test_finding4_json_that_throws(self):
        module = self.node.module('hello')
        bodies = [
            '{"module": "%s", "limits": {"fuel": 1e400}}' % module,
            '{"module": "%s", "limits": {"fuel": -1e400}}' % module,
            '{"module": "%s", "limits": {"fuel": 1e19}}' % module,
            '{"module": "%s", "limits": {"fuel": -1}}' % module,
            '{"module": "%s", "limits": {"memory_bytes": 1.5}}' % module,
            '{"module": "%s", "priority": 1e400}' % module,
            '{"module": "%s", "limits": [1, 2]}' % module,
            '{"module": 5}', '[1, 2, 3]', '"just a string"', '1e400', 'null',
            '{"module": "%s", "env": {"A": 1}}' % module,
            '{"module": "%s", "args": [null]}' % module,
            '[' * 100000 + ']' * 100000,
        ]
        for body in bodies:
            with self.subTest(body=body[:80]):
                r = self.node.post_job(body)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()['code'], 'invalid_argument', r)
        self.assertAlive('JSON that makes nlohmann throw')

    # --- finding 5: bodies, slow clients, transfer codings, descriptors -------------------------

    def test_finding5_body_on_a_get_is_refused_before_it_is_read(self):
        with self.connect() as sock:
            sock.sendall(self.head('GET', '/v1/node', b'Content-Length: 1048576\r\n\r\n',
                                   token=False))
            status, data = read_answer(sock)
        self.assertEqual(status, 413, data)
        self.assertAlive('a GET with a 1 MiB body')

    def test_finding5_body_without_a_route_is_refused_before_it_is_read(self):
        # A POST to no route, or to a route that takes no POST, is answered from its head alone:
        # before, the node read up to 1 MiB of it, with no token, and then answered 404 or 405
        # (60 such bodies held took meshd from 20 to 78 MiB).
        for path, want in (('/v1/nope', 404), ('/v1/node', 405), ('/v1/jobs/x/output', 405)):
            with self.connect() as sock:
                sock.sendall(self.head('POST', path, b'Content-Length: 1048576\r\n\r\n',
                                       token=False))
                status, data = read_answer(sock)
            self.assertEqual(status, want, (path, data))
        self.assertAlive('a POST with a 1 MiB body and no route')

    def test_finding5_trickled_body_and_header_are_cut(self):
        # A body trickled a byte at a time (the idle timer used to restart on each byte).
        before = self.rejected('body_too_slow')
        with self.connect() as sock:
            sock.sendall(self.head('POST', '/v1/jobs', b'Content-Type: application/json\r\n'
                                   b'Content-Length: 1000\r\n\r\n{'))
            cut, took = trickle_until_cut(sock, itertools.repeat(b' '))
            self.assertTrue(cut, 'a trickled body must be cut after body_timeout (1 s)')
            self.assertLess(took, 4)
        # The socket closes (Beast's timer) before the handler counts it: wait for the count.
        base.wait_until(lambda: self.rejected('body_too_slow') > before, 5,
                        'the body_too_slow count')
        # A header trickled a field at a time: cut header_timeout (1 s) after its first byte.
        before = self.rejected('header_timeout')
        with self.connect() as sock:
            sock.sendall(b'GET /v1/node HTTP/1.1\r\n')
            cut, took = trickle_until_cut(sock, (b'X-%d: a\r\n' % i for i in range(30)))
            self.assertTrue(cut, 'a trickled header must be cut after header_timeout (1 s)')
            self.assertLess(took, 4)
        # The socket closes (Beast's timer) before the handler counts it: wait for the count.
        base.wait_until(lambda: self.rejected('header_timeout') > before, 5,
                        'the header_timeout count')
        # Forty slow bodies at once (below the connection cap): all cut, and the node answers
        # meanwhile.
        socks = []
        try:
            for i in range(40):
                s = self.connect(f'127.0.{1 + i // 16}.{10 + i % 16}')
                s.sendall(self.head('POST', '/v1/jobs', b'Content-Length: 1000000\r\n\r\n{'))
                socks.append(s)
            self.assertEqual(self.node.call('GET', '/v1/node', token=False).status, 200)
            deadline = time.monotonic() + 6
            for s in socks:
                self.assertTrue(closed_within(s, max(0.1, deadline - time.monotonic())),
                                'every slow body is cut')
        finally:
            for s in socks:
                s.close()
        self.assertAlive('trickled bodies and headers')

    def test_finding5_transfer_codings(self):
        for coding, want in ((b'gzip', 501), (b'gzip, chunked', 501), (b'chunked, gzip', 501),
                             (b'identity', 501), (b'chunked', 201)):
            with self.subTest(coding=coding):
                body = json.dumps({'module': self.node.module('hello')}).encode()
                status, data = self.raw(self.head(
                    'POST', '/v1/jobs', b'Content-Type: application/json\r\n'
                    b'Transfer-Encoding: ' + coding + b'\r\n\r\n' +
                    (b'%x\r\n%s\r\n0\r\n\r\n' % (len(body), body) if coding == b'chunked'
                     else body)))
                self.assertIn(status, (want, 200) if want == 201 else (want,), data[:300])
        # Two Content-Length fields, or two Transfer-Encoding fields: which one wins is
        # ambiguous (request smuggling), so neither does.
        for extra in (b'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}',
                      b'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'):
            status, data = self.raw(self.head('POST', '/v1/jobs', extra))
            self.assertEqual(status, 400, data[:300])
        self.assertAlive('unknown transfer codings')

    def test_finding5_connection_caps(self):
        # From one address: beyond max_connections_per_address (16), 503 with Retry-After.
        held = []
        try:
            for _ in range(16):
                held.append(self.connect('127.0.0.2'))
            # Every held connection has been accepted before the next is counted.
            time.sleep(0.2)
            with self.connect('127.0.0.2') as extra:
                status, data = read_answer(extra, timeout=5)
            self.assertEqual(status, 503, data)
            self.assertIn(b'Retry-After: 1', data)
            # Another address is still served.
            status, _ = self.raw(self.head('GET', '/v1/node', b'\r\n', token=False),
                                 source='127.0.0.3')
            self.assertEqual(status, 200)
            # In all: beyond max_connections (48), 503 whatever the address. A held connection
            # that sends nothing lives idle_timeout (3 s), so the 48 are opened afresh, once the
            # node has let the first 16 go, rather than counted on lasting from above: in a
            # loaded test run they did not, and the extra one was admitted (and closed idle).
            for s in held:
                s.close()
            held.clear()
            base.wait_until(lambda: self.open_connections() <= 1, 10,
                            'the first connections to be closed')
            for i in range(48):
                held.append(self.connect(f'127.0.3.{10 + i // 10}'))
            time.sleep(0.2)
            with self.connect('127.0.9.9') as extra:
                status, data = read_answer(extra, timeout=5)
            self.assertEqual(status, 503, data)
            # Thousands more: refused or closed at once, never piling up.
            flood = []
            for i in range(2000):
                try:
                    flood.append(self.connect(f'127.0.{20 + i // 200}.{1 + i % 200}'))
                except OSError:
                    break
            for s in flood:
                s.close()
        finally:
            for s in held:
                s.close()
        # Idle connections are closed after idle_timeout (3 s) anyway; closed ones free their
        # slot at once.
        # Closed connections free their slots as soon as the node reads their end.
        base.wait_until(lambda: self.open_connections() <= 1, 10,
                        'the flood\'s connections to be closed')
        self.assertGreater(self.rejected('connection_limit'), 0)
        self.assertAlive('connection floods')

    def test_finding5_descriptor_reserve(self):
        # A node allowed 400 descriptors keeps half for its own files: the connection cap is
        # lowered (with a warning), and a flood of sockets past it costs no descriptor it needs.
        data_dir = os.path.join(self.tmp, 'fds')
        # The limit is set by a shell (preexec_fn is not safe in this threaded process).
        proc = subprocess.Popen(
            ['sh', '-c', 'ulimit -n 400 && exec "$0" "$@"', base.MESHD, '--data-dir', data_dir,
             '--listen', '127.0.0.1:0', '--engine', 'interp', '--no-mesh'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if not line.startswith('meshd ready at'):
                proc.kill()
                self.fail(f'meshd did not start: {line}{proc.communicate()[1]}')
            port = int(line.split()[3].rsplit(':', 1)[1])
            socks = []
            for i in range(600):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.settimeout(2)
                s.bind((f'127.0.{60 + i // 100}.{1 + i % 100}', 0))
                try:
                    s.connect(('127.0.0.1', port))
                except OSError:
                    break  # the backlog is full: the flood is as big as it gets
            for s in socks:
                s.close()
            with open(os.path.join(data_dir, 'api.token')) as f:
                token = f.read().strip()

            def node_answers():
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
                try:
                    conn.request('GET', '/v1/jobs', headers={'Authorization': 'Bearer ' + token})
                    return conn.getresponse().status == 200
                except OSError:
                    return False
                finally:
                    conn.close()

            base.wait_until(node_answers, 15, 'the node to answer after 600 sockets')
            self.assertIsNone(proc.poll())
        finally:
            proc.kill()
            _, err = proc.communicate()
        self.assertIn('max_connections 1024 lowered to 200', err)
        self.assertNotIn('Too many open files', err)

    # --- finding 7: reads need the token; Host; non-loopback listen -----------------------------

    def test_finding7_reads_need_the_token(self):
        module = self.node.module('hello')
        r = self.node.post_job({'module': module, 'env': {'API_KEY': 'secret-123'}}, wait='30s')
        self.assertIn(r.status, (200, 201), r)
        job = r.json()
        for path in (f'/v1/jobs/{job["id"]}', '/v1/jobs', f'/v1/jobs/{job["id"]}/output',
                     f'/v1/blobs/{module}', f'/v1/jobs/{job["id"]}/history', '/v1/events'):
            with self.subTest(path=path):
                r = self.node.call('GET', path, token=False, timeout=10)
                self.assertEqual(r.status, 401, r)
                self.assertNotIn(b'secret-123', r.body)
        node = self.node.call('GET', '/v1/node', token=False)
        self.assertEqual(node.status, 200)
        self.assertNotIn(b'secret-123', node.body)
        self.assertNotIn(self.node.token.encode(), node.body)
        self.assertNotIn(self.node.token.encode(), self.node.call('GET', '/metrics').body)
        self.assertAlive('anonymous reads')

    def test_finding7_host_header(self):
        for host, want in ((b'evil.example', 421), (b'evil.example:80', 421),
                           (b'127.0.0.1.evil.example', 421), (b'localhost', 200),
                           (b'LOCALHOST:9', 200), (b'127.9.8.7:1', 200), (b'[::1]:7420', 200),
                           (b'[::1]', 200), (b'', 400), (b'[::1', 400), (b'a:b', 400)):
            with self.subTest(host=host):
                status, data = self.raw(b'GET /v1/node HTTP/1.1\r\nHost: ' + host + b'\r\n\r\n')
                self.assertEqual(status, want, data[:300])
        status, data = self.raw(b'GET /v1/node HTTP/1.1\r\nHost: a\r\nHost: localhost\r\n\r\n')
        self.assertEqual(status, 400, data[:300])
        self.assertGreater(self.rejected('host_not_allowed'), 0)
        self.assertAlive('foreign Host headers')

    def test_finding7_non_loopback_listen(self):
        def start(name, config, *flags, mesh=False):
            """meshd on 0.0.0.0 (Meshd always listens on 127.0.0.1): (process, port, log)."""
            data_dir = os.path.join(self.tmp, name)
            os.makedirs(data_dir, mode=0o700, exist_ok=True)
            with open(os.path.join(data_dir, 'meshd.toml'), 'w') as f:
                f.write(config)
            proc = subprocess.Popen([base.MESHD, '--data-dir', data_dir, '--listen', '0.0.0.0:0',
                                     '--engine', 'interp', *([] if mesh else ['--no-mesh']),
                                     *flags],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            self.addCleanup(stop, proc)
            line = proc.stdout.readline()
            if not line.startswith('meshd ready at'):
                return proc, None, stop(proc)
            port = int(line.split()[3].rsplit(':', 1)[1])
            with open(os.path.join(data_dir, 'api.token')) as f:
                token = f.read().strip()
            return proc, port, token

        def stop(proc):
            """Kills it if still running; its stderr (pipes closed)."""
            if proc.poll() is None:
                proc.kill()
            return proc.communicate()[1] if not proc.stderr.closed else ''

        def get(port, path, token=None):
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
            try:
                conn.request('GET', path, headers={'Authorization': 'Bearer ' + token}
                             if token else {})
                return conn.getresponse().status
            finally:
                conn.close()

        # Anonymous reads on 0.0.0.0: refused, unless insisted on (then a warning).
        config = '[api]\nanonymous_reads = true\n'
        proc, port, err = start('anon', config)
        self.assertIsNone(port)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('anonymous_reads', err)
        self.assertIn('--insecure-anonymous-reads', err)
        proc, port, token = start('anon', config, '--insecure-anonymous-reads')
        self.assertIsNotNone(port, token)
        self.assertEqual(get(port, '/v1/jobs'), 200, 'reads are open as configured')
        self.assertEqual(get(port, '/v1/node'), 200)
        self.assertIn('anyone who can reach it', stop(proc))
        # 0.0.0.0 without anonymous reads: starts, with a warning; reads need the token.
        proc, port, token = start('plain', '')
        self.assertIsNotNone(port, token)
        self.assertEqual(get(port, '/v1/jobs'), 401)
        self.assertEqual(get(port, '/v1/jobs', token), 200)
        self.assertIn('other hosts can reach', stop(proc))
        # The mesh on 0.0.0.0 with an empty allowed_peers: a warning that anyone may join; none
        # once the peers are listed.
        proc, port, token = start('mesh-open', '', mesh=True)
        self.assertIsNotNone(port, token)
        self.assertIn('allowed_peers is empty', stop(proc))
        did = self.node.info()['did']
        proc, port, token = start('mesh-closed', f'[mesh]\nallowed_peers = ["{did}"]\n', mesh=True)
        self.assertIsNotNone(port, token)
        self.assertNotIn('allowed_peers is empty', stop(proc))

    # --- finding 9: Authorization ----------------------------------------------------------------

    def test_finding9_authorization_header(self):
        token = self.node.token.encode()
        for auth, want in ((b'bearer ' + token, 200), (b'BEARER  ' + token, 200),
                           (b'Bearer ' + token + b'x', 401), (b'Basic ' + token, 401),
                           (b'Bearer', 401), (b'', 401)):
            with self.subTest(auth=auth[:10]):
                status, _ = self.raw(b'GET /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                                     b'Authorization: ' + auth + b'\r\n\r\n')
                self.assertEqual(status, want)
        # Two Authorization fields (the last one used to win): 400, whatever they hold and in
        # whichever order (the token check must not get to pick one).
        for first, second in ((b'Bearer wrong', b'Bearer ' + token),
                              (b'Bearer ' + token, b'Bearer ' + token),
                              (b'Bearer ' + token, b'Bearer wrong')):
            status, data = self.raw(b'GET /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                                    b'Authorization: ' + first + b'\r\n'
                                    b'Authorization: ' + second + b'\r\n\r\n')
            self.assertEqual(status, 400, data[:300])
        self.assertAlive('odd Authorization headers')


if __name__ == '__main__':
    base.main()  # sets base.MESHD, MESH and EXAMPLES, then runs this module's tests
