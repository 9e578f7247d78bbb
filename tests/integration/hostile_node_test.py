#!/usr/bin/env python3
"""Every finding of the hardening issue (#13), sent to one real meshd as an attacker would, in
order; after each one the node must still answer GET /v1/node and run a hello job.

Usage: hostile_node_test.py --meshd PATH --mesh PATH --examples DIR [unittest arguments...]

The node runs the aot engine on one slot (so a module that keeps the compiler busy would hold the
only slot if compiles still ran in the job's place), with the mesh on, anonymous reads off (the
default) and short HTTP deadlines so that the slow attacks take seconds, not minutes. Standard
library only; the hostile modules are generated here, byte by byte.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the import below
import node_api_test as base  # noqa: E402  (MESHD, MESH and EXAMPLES are set in main())
from node_api_test import Meshd, wait_until  # noqa: E402


# --- hostile modules ---------------------------------------------------------------------------

def uleb(n):
    out = bytearray()
    while True:
        byte = n & 0x7f
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def section(section_id, payload):
    return bytes([section_id]) + uleb(len(payload)) + payload


def vec(items):
    return uleb(len(items)) + b''.join(items)


def name(text):
    return uleb(len(text)) + text.encode()


HEADER = b'\0asm\1\0\0\0'
VOID_TYPE = section(1, vec([b'\x60\x00\x00']))  # one type: () -> ()
MEMORY_1 = section(5, vec([b'\x00\x01']))  # one memory, 1 page, no maximum
EXPORTS = section(7, vec([name('_start') + b'\x00' + uleb(0), name('memory') + b'\x02\x00']))


def module(funcs, body, before_exports=b'', after_code=b''):
    """`funcs` functions of type 0, each with `body` (locals + code); _start is function 0."""
    code = vec([uleb(len(body)) + body] * funcs)
    return (HEADER + VOID_TYPE + section(3, vec([b'\x00'] * funcs)) + before_exports + EXPORTS +
            section(10, code) + after_code)


def deep_blocks(levels):
    """The issue's reproducer: one function with `levels` nested blocks (60 KB at 20,000)."""
    body = b'\x00' + b'\x02\x40' * levels + b'\x0b' * (levels + 1)
    return HEADER + VOID_TYPE + section(3, vec([b'\x00'])) + MEMORY_1 + EXPORTS + section(
        10, vec([uleb(len(body)) + body]))


def many_functions(count):
    return module(count, b'\x00\x0b', before_exports=MEMORY_1)


def many_globals(count):
    glob = b'\x7f\x00\x41\x00\x0b'  # immutable i32 = 0
    return module(1, b'\x00\x0b', before_exports=MEMORY_1 + section(6, vec([glob] * count)))


def many_data_segments(count):
    seg = b'\x00\x41\x00\x0b\x01\x2a'  # active, memory 0, offset i32.const 0, one byte
    return module(1, b'\x00\x0b', before_exports=MEMORY_1, after_code=section(11, vec([seg] * count)))


def many_imports(count):
    """`count` imports of one WASI function (all valid); _start is the first defined function."""
    imp = name('wasi_snapshot_preview1') + name('sched_yield') + b'\x00' + uleb(1)
    types = section(1, vec([b'\x60\x00\x00', b'\x60\x00\x01\x7f']))
    exports = section(7, vec([name('_start') + b'\x00' + uleb(count), name('memory') + b'\x02\x00']))
    return (HEADER + types + section(2, vec([imp] * count)) + section(3, vec([b'\x00'])) +
            MEMORY_1 + exports + section(10, vec([b'\x02\x00\x0b'])))


def big_table(entries):
    table = section(4, vec([b'\x70\x00' + uleb(entries)]))  # funcref, min = entries
    return module(1, b'\x00\x0b', before_exports=table + MEMORY_1)


# --- the node ------------------------------------------------------------------------------------

CONFIG = """
[api]
header_timeout = "2s"
body_timeout = "3s"
min_body_rate = "1KiB"
max_connections = 256
max_connections_per_address = 32
"""


class HostileNodeTest(unittest.TestCase):
    """One node for the whole class: the findings are sent in order, each followed by a check that
    the node is still up and useful."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='mesh-hostile-')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        data_dir = os.path.join(cls.tmp, 'node')
        os.makedirs(data_dir, mode=0o700)
        with open(os.path.join(data_dir, 'meshd.toml'), 'w') as f:
            f.write(CONFIG)
        cls.node = Meshd(data_dir, flags=['--max-concurrent', '1', '--engine', 'aot',
                                          '--mesh-listen', '127.0.0.1:0'])
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.kill()

    # --- helpers --------------------------------------------------------------------------------

    def assertAlive(self, after):
        """The node answers and runs a hello job, in under a second once it is queued."""
        self.assertTrue(self.node.running(), f'meshd died after {after}; log:\n{self.node.log()}')
        r = self.node.call('GET', '/v1/node', token=False, timeout=10)
        self.assertEqual(r.status, 200, f'/v1/node after {after}: {r}')
        start = time.monotonic()
        job = self.node.submit('hello', wait='30s')
        job = self.node.wait_job(job['id'], timeout=30)
        self.assertEqual(job['state'], 'succeeded', f'hello after {after}: {job}')
        return time.monotonic() - start

    def raw(self, data, read=True, timeout=10):
        """Sends raw bytes on a fresh connection; returns what came back before the close."""
        s = socket.create_connection((self.node.host, self.node.port), timeout=timeout)
        try:
            s.sendall(data)
            if not read:
                return b''
            out = b''
            while True:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()

    def status_of(self, reply):
        self.assertTrue(reply.startswith(b'HTTP/1.1 '), f'not an HTTP answer: {reply[:200]!r}')
        return int(reply[9:12])

    def submit_module(self, wasm, limits, wait=None):
        cid = self.node.upload(wasm)
        r = self.node.post_job({'module': cid, 'limits': limits}, wait=wait)
        self.assertEqual(r.status, 201, r)
        return r.json()

    # --- the findings, in order -----------------------------------------------------------------

    def test_01_huge_trailer(self):
        # The request word for word (its foreign Host is now refused first), then the same
        # from a local Host with the token, so that the trailer itself is read.
        reply = self.raw(b'GET /v1/node HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
                         b'0\r\nX: ' + b'a' * 65600 + b'\r\n\r\n')
        self.assertIn(self.status_of(reply), (400, 413, 421, 431))
        reply = self.raw(b'POST /v1/blobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ' +
                         self.node.token.encode() + b'\r\nTransfer-Encoding: chunked\r\n\r\n'
                         b'1\r\na\r\n0\r\nX: ' + b'a' * 65600 + b'\r\n\r\n')
        self.assertIn(self.status_of(reply), (400, 413, 431))
        many = b''.join(b'X%d: %s\r\n' % (i, b'b' * 1000) for i in range(200))  # 200 KB of fields
        reply = self.raw(b'POST /v1/blobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ' +
                         self.node.token.encode() + b'\r\nTransfer-Encoding: chunked\r\n\r\n'
                         b'1\r\na\r\n0\r\n' + many + b'\r\n')
        self.assertIn(self.status_of(reply), (400, 413, 431))
        self.assertAlive('a trailer over the header limit')

    def test_02_deep_module(self):
        for levels in (20000, 1000000):
            job = self.submit_module(deep_blocks(levels), {'wall_time_ms': 10000})
            job = self.node.wait_job(job['id'], timeout=60)
            self.assertEqual(job['state'], 'failed', job)
            self.assertEqual(job['report']['outcome'], 'invalid_module', job)
            self.assertIn('nest', job['report']['message'])
            self.assertAlive(f'a module with {levels} nested blocks')
        # `mesh run` on the same module fails cleanly instead of crashing.
        path = os.path.join(self.tmp, 'deep.wasm')
        with open(path, 'wb') as f:
            f.write(deep_blocks(20000))
        run = subprocess.run([base.MESH, '--data-dir', self.node.data_dir, 'run', path],
                             capture_output=True, timeout=60)
        self.assertNotIn(run.returncode, (0, -signal.SIGSEGV, -signal.SIGABRT, 139, 134), run)
        self.assertIn(b'nest', run.stderr)

    def test_03_compile_bombs(self):
        # 50,000 tiny functions with a 5 s wall limit: the job ends within 6 s (it runs on the
        # interpreter while the compiler works in its own bounded box), and a hello job submitted
        # beside it on this one-slot node ends in under a second.
        start = time.monotonic()
        bomb = self.submit_module(many_functions(50000), {'wall_time_ms': 5000})
        hello_took = self.assertAlive('a module of 50,000 functions being compiled')
        bomb = self.node.wait_job(bomb['id'], timeout=30)
        took = time.monotonic() - start
        self.assertEqual(bomb['state'], 'succeeded', bomb)
        self.assertLess(took, 6.0, bomb)
        self.assertLess(hello_took, 1.0)
        for what, wasm in (('100,000 imports', many_imports(100000)),
                           ('65,000 data segments', many_data_segments(65000)),
                           ('100,000 globals', many_globals(100000))):
            start = time.monotonic()
            job = self.submit_module(wasm, {'wall_time_ms': 5000})
            job = self.node.wait_job(job['id'], timeout=30)
            self.assertLess(time.monotonic() - start, 6.0, f'{what}: {job}')
            self.assertIn(job['state'], ('succeeded', 'failed'), job)
            self.assertAlive(what)

    def test_04_huge_numbers(self):
        cid = self.node.module('hello')
        for body in ('{"module":"%s","limits":{"fuel":1e400}}' % cid,
                     '{"module":"%s","limits":{"fuel":-1}}' % cid,
                     '{"module":"%s","limits":{"memory_bytes":1e30}}' % cid,
                     '{"module":"%s","priority":1e400}' % cid):
            r = self.node.post_job(body)
            self.assertEqual(r.status, 400, f'{body}: {r}')
            self.assertEqual(r.json()['code'], 'invalid_argument', r)
        self.assertAlive('numbers out of range')

    def test_05_slow_and_many_connections(self):
        # A body trickled below the minimum rate is dropped by the body deadline.
        s = socket.create_connection((self.node.host, self.node.port), timeout=20)
        s.sendall(b'POST /v1/blobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ' +
                  self.node.token.encode() + b'\r\nContent-Length: 1000000\r\n\r\n')
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < 15:
            try:
                s.sendall(b'x')
                if s.recv(4096, socket.MSG_DONTWAIT) == b'':
                    closed = True
                    break
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.5)
        s.close()
        self.assertTrue(closed, 'a trickled body kept its connection for 15 s')
        # A body on a route that takes none is refused.
        r = self.node.call('GET', '/v1/jobs', body=b'x' * 1000)
        self.assertIn(r.status, (400, 413))
        # A Transfer-Encoding other than a final chunked.
        reply = self.raw(b'POST /v1/blobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ' +
                         self.node.token.encode() + b'\r\nTransfer-Encoding: gzip\r\n\r\nabc')
        self.assertIn(self.status_of(reply), (400, 501))
        # Idle sockets past the per-client cap get 503 with Retry-After, and the node still serves.
        # The node closes an idle socket after header_timeout (2 s): on a machine so loaded that
        # some closed before the extra one came, the cap was not reached, so try again (3 times).
        for attempt in range(3):
            idle = []
            try:
                started = time.monotonic()
                for _ in range(40):
                    idle.append(socket.create_connection((self.node.host, self.node.port)))
                reply = b''
                extra = socket.create_connection((self.node.host, self.node.port), timeout=10)
                extra.sendall(b'GET /v1/node HTTP/1.1\r\nHost: localhost\r\n\r\n')
                try:
                    reply = extra.recv(4096)
                except (ConnectionResetError, socket.timeout):
                    pass
                extra.close()
                late = time.monotonic() - started > 1.0
            finally:
                for s in idle:
                    s.close()
            if reply.startswith(b'HTTP/1.1 503') or not late or attempt == 2:
                break
        self.assertTrue(reply.startswith(b'HTTP/1.1 503'), reply[:200])
        self.assertIn(b'retry-after', reply.lower())
        wait_until(lambda: self.node.call('GET', '/v1/node', token=False).status == 200, 15,
                   'the node to answer once the idle sockets closed')
        self.assertAlive('slow bodies and idle sockets')

    def test_06_big_table(self):
        job = self.submit_module(big_table(100_000_000), {'wall_time_ms': 10000})
        job = self.node.wait_job(job['id'], timeout=60)
        self.assertEqual(job['report']['outcome'], 'invalid_module', job)
        job = self.submit_module(big_table(9_000_000),
                                 {'wall_time_ms': 10000, 'memory_bytes': 32 << 20})
        job = self.node.wait_job(job['id'], timeout=60)
        self.assertEqual(job['report']['outcome'], 'memory_limit', job)
        self.assertAlive('a module with a huge table')

    def test_07_reads_need_a_token_and_a_local_host(self):
        job = self.node.submit('hello', wait='30s')
        for path in (f'/v1/jobs/{job["id"]}', f'/v1/jobs/{job["id"]}/output', '/v1/jobs',
                     '/v1/blobs/' + self.node.module('hello')):
            r = self.node.call('GET', path, token=False)
            self.assertEqual(r.status, 401, f'{path}: {r}')
        self.assertEqual(self.node.call('GET', '/v1/node', token=False).status, 200)
        self.assertEqual(self.node.call('GET', '/metrics', token=False).status, 200)
        r = self.node.call('GET', '/v1/node', headers={'Host': 'evil.example'}, token=False)
        self.assertEqual(r.status, 421, r)
        r = self.node.call('GET', '/v1/node', headers={'Host': f'localhost:{self.node.port}'})
        self.assertEqual(r.status, 200, r)
        self.assertAlive('anonymous reads and a foreign Host')

    def test_08_foreign_tls_certificates(self):
        mesh = self.node.info()['mesh']
        host, port = mesh['address'].rsplit(':', 1)
        for kind in (['-newkey', 'rsa:2048'], ['-newkey', 'ec', '-pkeyopt',
                                               'ec_paramgen_curve:prime256v1'],
                     ['-newkey', 'ed25519']):
            key, cert = os.path.join(self.tmp, 'k.pem'), os.path.join(self.tmp, 'c.pem')
            subprocess.run(['openssl', 'req', '-x509', *kind, '-nodes', '-keyout', key, '-out',
                            cert, '-days', '1', '-subj', '/CN=intruder'], check=True,
                           capture_output=True)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.set_alpn_protocols(['h2'])
            ctx.load_cert_chain(cert, key)
            with socket.create_connection((host, int(port)), timeout=10) as raw:
                # TLS 1.3: the server judges the client certificate after the client's Finished,
                # so the refusal shows as an alert on the first read.
                with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError), msg=kind):
                    with ctx.wrap_socket(raw) as tls:
                        tls.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
                        if tls.recv(100) == b'':
                            raise ConnectionResetError('closed')
        text = self.node.call('GET', '/metrics', token=False).body.decode()
        refused = sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
                      if line.startswith('mesh_net_refused_total'))
        self.assertGreaterEqual(refused, 3)
        self.assertAlive('foreign TLS certificates')

    def refused(self, reason):
        """mesh_net_refused_total{reason=...} from the node's metrics."""
        text = self.node.call('GET', '/metrics', token=False).body.decode()
        prefix = 'mesh_net_refused_total{reason="%s"}' % reason
        return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
                   if line.startswith(prefix))

    def test_08_no_client_certificate_and_handshake_floods(self):
        host, port = self.node.info()['mesh']['address'].rsplit(':', 1)
        port = int(port)

        def handshake_without_a_certificate():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.set_alpn_protocols(['h2'])
            try:
                with socket.create_connection((host, port), timeout=10) as raw:
                    with ctx.wrap_socket(raw) as tls:
                        tls.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
                        return tls.recv(100) != b''
            except (ssl.SSLError, OSError):
                return False

        # A client without a certificate is refused in the handshake, and counted.
        before = self.refused('no_client_cert')
        self.assertFalse(handshake_without_a_certificate())
        wait_until(lambda: self.refused('no_client_cert') > before, 10, 'the no_client_cert count')
        # 600 connections opened and closed at once, half of them after bytes that are not TLS
        # (more than max_handshakes, 256), and 100 half-open ones held: a handshake still gets to
        # its certificate check long before the 10 s deadline frees anything.
        for i in range(600):
            with socket.create_connection((host, port), timeout=10) as s:
                if i % 2:
                    s.sendall(b'GET / HTTP/1.1\r\n\r\n')
        held = [socket.create_connection((host, port), timeout=10) for _ in range(100)]
        try:
            before = self.refused('no_client_cert')
            start = time.monotonic()
            while self.refused('no_client_cert') == before and time.monotonic() - start < 5:
                handshake_without_a_certificate()
            self.assertGreater(self.refused('no_client_cert'), before,
                               'closed connections held the handshake cap')
        finally:
            for s in held:
                s.close()
        self.assertAlive('a client without a certificate and handshake floods')

    def test_09_authorization_headers(self):
        for first, second in ((b'Bearer ' + self.node.token.encode(), b'Bearer x'),
                              (b'Bearer x', b'Bearer ' + self.node.token.encode())):
            reply = self.raw(b'GET /v1/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: ' +
                             first + b'\r\nAuthorization: ' + second +
                             b'\r\nConnection: close\r\n\r\n')
            self.assertEqual(self.status_of(reply), 400, reply[:300])
        r = self.node.call('GET', '/v1/jobs', headers={'Authorization': 'bearer ' + self.node.token},
                           token=False)
        self.assertEqual(r.status, 200, r)
        self.assertAlive('two Authorization headers')

    def test_10_sigterm_during_a_compile(self):
        self.submit_module(many_functions(40000), {'wall_time_ms': 60000})
        time.sleep(1.0)  # the compile is under way (a process test: real time is the point)
        start = time.monotonic()
        self.node.signal(signal.SIGTERM)
        code = self.node.wait_exit(40)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - start, 31.0)  # --grace defaults to 30 s
        wait_until(lambda: not self.node.live_workers(), 10, 'every child to exit')


if __name__ == '__main__':
    base.main()  # sets base.MESHD, MESH and EXAMPLES, then runs this module's tests
