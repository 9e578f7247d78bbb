#!/usr/bin/env python3
"""Accounts and roles (issue 18 part 3) against a real meshd (--no-mesh, interpreter engine):

- every route of the OpenAPI document, called with no token and as a read, a submit (the owner
  of the job and blob in the paths) and an admin user: 401, 403 or served exactly as the
  document's security, x-mesh-role and x-mesh-owner say;
- a user's jobs are signed with its own DID and its data is its own: another user (or a reader)
  gets 403 on its output, its blobs and its cancel; ?job= opens a job's blobs to its owner;
- ledger balance and history are the caller's own;
- requests per second and jobs in flight per token (429 with Retry-After), expiry, rotation,
  removal, cross-origin refusal, /metrics open on loopback, tokens stored hashed only;
- `mesh user add|list|token|rm` and `mesh whoami`.

  accounts_test.py --meshd PATH --mesh PATH --examples DIR [unittest args]

Reuses node_api_test.py's helpers. Nothing sleeps to synchronise but the expiry test, which
waits for a one-second token to expire by polling with a deadline.
"""

import http.client
import json
import os
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the import below
import node_api_test as base  # noqa: E402  (MESHD, MESH and EXAMPLES are set in main())
from node_api_test import NodeTest  # noqa: E402

ROLES = ('read', 'submit', 'admin')
RANK = {'read': 1, 'submit': 2, 'admin': 3}


class AccountsTest(NodeTest):
    FLAGS = ('--engine', 'interp', '--max-concurrent', '2')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {}  # name -> the JSON answer that made it (token included)
        for name, role, extra in (('viewer', 'read', {}), ('alice', 'submit', {}),
                                  ('bob', 'submit', {}), ('root2', 'admin', {})):
            cls.users[name] = cls.add_user(name, role, **extra)
        cls.token = {'read': cls.users['viewer']['token'], 'submit': cls.users['alice']['token'],
                     'admin': cls.users['root2']['token']}
        # Alice's own blob and job (submitted as her, so signed with her key).
        r = cls.node.call('POST', '/v1/blobs', base.example('echo'), token=cls.token['submit'])
        assert r.status == 201, r
        cls.alice_blob = r.json()['cid']
        r = cls.node.call('POST', '/v1/blobs', b'alice input\n', token=cls.token['submit'])
        assert r.status == 201, r
        cls.alice_input = r.json()['cid']
        r = cls.node.post_job({'module': cls.alice_blob, 'inputs': [cls.alice_input]}, wait='30s',
                              token=cls.token['submit'])
        assert r.status == 201, r
        cls.alice_job = r.json()
        assert cls.alice_job['state'] == 'succeeded', cls.alice_job

    @classmethod
    def add_user(cls, name, role, **fields):
        r = cls.node.call('POST', '/v1/users', json.dumps({'name': name, 'role': role, **fields}),
                          {'Content-Type': 'application/json'})
        assert r.status == 201, r
        return r.json()

    def as_user(self, role, method, path, body=None, headers=None):
        return self.node.call(method, path, body, headers,
                              token=self.token[role] if role else False, timeout=10)

    # --- the whole matrix -------------------------------------------------------------------

    def concrete(self, path):
        """`path` of the document with its parameters filled with things that exist."""
        values = {'id': self.alice_job['id'], 'cid': self.alice_blob, 'index': '0',
                  'did': self.users['alice']['did'], 'file': 'app.js'}
        for key, value in values.items():
            path = path.replace('{' + key + '}', value)
        return path

    def request(self, method, path, role, serial):
        """One request of the matrix; users made or removed get fresh names (`serial`)."""
        headers, body = {}, None
        if '{name}' in path:  # a throwaway user, so that each role acts on one that exists
            path = path.replace('{name}', self.add_user(f'tmp{serial}', 'read')['name'])
        if path.startswith('/v1/store/{cid}'):  # a stored file of alice's, fresh each time
            r = self.as_user('submit', 'POST', '/v1/store', f'alice file {serial}'.encode())
            self.assertEqual(r.status, 201, r)
            path = path.replace('{cid}', r.json()['cid'])
        path = self.concrete(path)
        if method == 'post' and path == '/v1/users':
            body, headers = json.dumps({'name': f'new{serial}'}), {'Content-Type':
                                                                    'application/json'}
        elif method == 'post' and path == '/v1/jobs':
            body = json.dumps({'module': self.node.module('hello')})
            headers = {'Content-Type': 'application/json'}
        elif method == 'post' and path == '/v1/blobs':
            body = b'matrix blob'
        elif method == 'post' and path == '/v1/store':
            body = b'matrix stored file'
        elif method == 'post' and path == '/v1/blobs/dir':
            body = json.dumps({'entries': [{'path': 'd', 'kind': 'dir'}]})
            headers = {'Content-Type': 'application/json'}
        elif path == '/v1/events':
            path += '?after=0'
        elif method == 'get' and path == self.concrete('/v1/blobs/{cid}'):
            path += '?job=' + self.alice_job['id']  # alice's job names it: her data
        if path == '/v1/events?after=0':  # a stream: the status line is the answer
            conn = http.client.HTTPConnection(self.node.host, self.node.port, timeout=10)
            try:
                hdrs = {'Authorization': 'Bearer ' + self.token[role]} if role else {}
                conn.request('GET', path, headers=hdrs)
                return conn.getresponse().status
            finally:
                conn.close()
        return self.as_user(role, method.upper(), path, body, headers).status

    def test_every_route_under_every_role_is_as_documented(self):
        doc = self.node.call('GET', '/v1/openapi.json').json()
        serial = 0
        checked = 0
        for path, item in doc['paths'].items():
            for method, op in item.items():
                secured = 'security' in op
                need = op.get('x-mesh-role')
                self.assertEqual(secured, need is not None, f'{method} {path}')
                for role in (None, *ROLES):
                    serial += 1
                    with self.subTest(method=method, path=path, role=role):
                        status = self.request(method, path, role, serial)
                        checked += 1
                        if not secured:
                            self.assertNotIn(status, (401, 403), 'open route refused')
                        elif role is None:
                            # /metrics answers loopback without a token (Prometheus).
                            want = 200 if path == '/metrics' else 401
                            self.assertEqual(status, want)
                        elif RANK[role] < RANK[need]:
                            self.assertEqual(status, 403)
                        elif 'x-mesh-owner' in op and role == 'read':
                            # The reader is not alice, whose job and blobs these are.
                            self.assertEqual(status, 403)
                        else:
                            self.assertNotIn(status, (401, 403, 429))
                            self.assertLess(status, 500)
        self.assertGreater(checked, 100)

    # --- whose data -------------------------------------------------------------------------

    def test_jobs_are_signed_and_owned_by_their_user(self):
        self.assertEqual(self.alice_job['spec']['submitter'], self.users['alice']['did'])
        self.assertNotEqual(self.users['alice']['did'], self.node.did)
        job = self.alice_job['id']
        bob = self.users['bob']['token']
        # Everyone who may read sees the job itself...
        for token in (self.token['read'], bob, self.token['submit'], self.token['admin']):
            self.assertEqual(self.node.call('GET', f'/v1/jobs/{job}', token=token).status, 200)
        # ...but its output and blobs are alice's and the admins'.
        for token, want in ((self.token['read'], 403), (bob, 403), (self.token['submit'], 200),
                            (self.token['admin'], 200), (self.node.token, 200)):
            r = self.node.call('GET', f'/v1/jobs/{job}/output', token=token)
            self.assertEqual(r.status, want, r)
            if want == 200:
                self.assertEqual(r.body, b'alice input\n')
            r = self.node.call('GET', f'/v1/blobs/{self.alice_input}', token=token)
            self.assertEqual(r.status, want, r)
            r = self.node.call('GET', f'/v1/blobs/{self.alice_input}?job={job}', token=token)
            self.assertEqual(r.status, want, r)
        # ?job= opens only what the job names, and only to its owner.
        output = self.alice_job['output_cid']
        r = self.node.call('GET', f'/v1/blobs/{output}?job={job}', token=self.token['submit'])
        self.assertEqual(r.status, 200, r)
        other = self.node.call('POST', '/v1/blobs', b'bob only', token=bob).json()['cid']
        r = self.node.call('GET', f'/v1/blobs/{other}?job={job}', token=self.token['submit'])
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.node.call('GET', f'/v1/blobs/{other}', token=bob).status, 200)
        # Cancelling is the owner's (or an admin's).
        r = self.node.call('DELETE', f'/v1/jobs/{job}', token=bob)
        self.assertEqual(r.status, 403, r)
        self.assertIn("not bob's", r.json()['message'])

    def test_a_stored_file_is_an_input_of_its_users_jobs_only(self):
        """A job may read a stored file (its manifest CID as an input) only if its user stored
        it: the node would otherwise open another user's encrypted file for them."""
        r = self.node.call('POST', '/v1/store', b'alice stored this\n', token=self.token['submit'])
        self.assertEqual(r.status, 201, r)
        cid = r.json()['cid']
        spec = json.dumps({'module': self.node.module('echo'), 'inputs': [cid]})
        headers = {'Content-Type': 'application/json'}
        r = self.node.call('POST', '/v1/jobs', spec, headers, token=self.users['bob']['token'])
        self.assertEqual(r.status, 403, r)
        self.assertIn(cid, r.json()['message'])
        for token in (self.token['submit'], self.token['admin']):
            r = self.node.call('POST', '/v1/jobs?wait=30s', spec, headers, token=token)
            self.assertIn(r.status, (200, 201), r)
            self.assertEqual(r.json()['state'], 'succeeded', r.json())
            out = self.node.call('GET', f'/v1/jobs/{r.json()["id"]}/output', token=token)
            self.assertEqual(out.body, b'alice stored this\n')

    def test_a_tree_names_only_its_users_blobs(self):
        """POST /v1/blobs/dir: a tree may list only blobs its user uploaded (else a tree, then a
        job mounting it, would read another user's data); the tree is then the user's to read,
        and a job of the user's that mounts it opens its files (?job=)."""
        bob = self.users['bob']['token']
        entry = {'path': 'in.txt', 'kind': 'file', 'cid': self.alice_input}
        r = self.node.call('POST', '/v1/blobs/dir', json.dumps({'entries': [entry]}), token=bob,
                           headers={'Content-Type': 'application/json'})
        self.assertEqual(r.status, 403, r.body)
        self.assertIn(self.alice_input, r.json()['message'])
        r = self.node.call('POST', '/v1/blobs/dir', json.dumps({'entries': [entry]}),
                           token=self.token['submit'], headers={'Content-Type': 'application/json'})
        self.assertEqual(r.status, 201, r.body)
        tree = r.json()['cid']
        self.assertEqual(r.json()['files'], 1)
        self.assertEqual(self.node.call('GET', f'/v1/blobs/{tree}', token=bob).status, 403)
        r = self.node.call('GET', f'/v1/blobs/{tree}', token=self.token['submit'])
        self.assertEqual(r.status, 200)
        self.assertIn(self.alice_input.encode(), r.body)
        job = self.node.post_job({'module': self.alice_blob,
                                  'mounts': [{'cid': tree, 'path': '/data'}]},
                                 token=self.token['submit']).json()
        self.assertEqual(job['spec']['mounts'], [{'cid': tree, 'path': '/data'}])
        r = self.node.call('GET', f'/v1/blobs/{tree}?job={job["id"]}', token=self.token['submit'])
        self.assertEqual(r.status, 200)

    def test_a_signed_envelope_is_for_admins(self):
        r = self.node.call('POST', '/v1/jobs', b'not even an envelope',
                           {'Content-Type': 'application/vnd.mesh.envelope'},
                           token=self.token['submit'])
        self.assertEqual(r.status, 403, r)
        self.assertIn('only an admin', r.json()['message'])

    def test_idempotency_keys_are_per_user(self):
        body = {'module': self.node.module('hello')}
        a = self.node.post_job(body, key='same-key', token=self.token['submit'])
        b = self.node.post_job(body, key='same-key', token=self.users['bob']['token'])
        self.assertEqual((a.status, b.status), (201, 201))
        self.assertNotEqual(a.json()['id'], b.json()['id'])
        again = self.node.post_job(body, key='same-key', token=self.token['submit'])
        self.assertEqual((again.status, again.json()['id']), (200, a.json()['id']))

    def test_ledger_is_the_callers_own(self):
        alice = self.users['alice']['did']
        r = self.node.call('GET', '/v1/ledger/balance', token=self.token['submit'])
        self.assertEqual((r.status, r.json()['did']), (200, alice))
        r = self.node.call('GET', '/v1/ledger/balance')
        self.assertEqual(r.json()['did'], self.node.did)  # api.token is the node
        r = self.node.call('GET', '/v1/ledger/history', token=self.token['submit'])
        self.assertEqual((r.status, r.json()['did']), (200, alice))
        r = self.node.call('GET', f'/v1/ledger/history?did={self.node.did}',
                           token=self.token['submit'])
        self.assertEqual(r.status, 403, r)
        r = self.node.call('GET', f'/v1/ledger/history?did={alice}', token=self.token['admin'])
        self.assertEqual(r.status, 200, r)

    # --- limits, expiry, rotation, removal ---------------------------------------------------

    def test_requests_per_second_get_429_with_retry_after(self):
        token = self.add_user('slow', 'read', requests_per_second=2)['token']
        statuses = [self.node.call('GET', '/v1/me', token=token) for _ in range(4)]
        self.assertEqual([r.status for r in statuses[:2]], [200, 200])
        limited = [r for r in statuses if r.status == 429]
        self.assertTrue(limited, [r.status for r in statuses])
        self.assertGreaterEqual(int(limited[0].headers['Retry-After']), 1)
        self.assertIn('2 requests a second', limited[0].json()['message'])
        # Another user is not held back.
        self.assertEqual(self.node.call('GET', '/v1/me', token=self.token['read']).status, 200)

    def test_jobs_in_flight_get_429_until_one_ends(self):
        token = self.add_user('one-at-a-time', 'submit', max_jobs_in_flight=1)['token']
        loop = {'module': self.node.module('loop'),
                'limits': {'fuel': base.BIG_FUEL, 'wall_time_ms': 120000}}
        first = self.node.post_job(loop, token=token)
        self.assertEqual(first.status, 201, first)
        self.addCleanup(self.node.cancel, first.json()['id'])
        second = self.node.post_job(loop, token=token)
        self.assertEqual(second.status, 429, second)
        self.assertEqual(second.headers['Retry-After'], '1')
        self.assertIn('1 jobs in flight', second.json()['message'])
        r = self.node.call('DELETE', f'/v1/jobs/{first.json()["id"]}', token=token)
        self.assertEqual(r.status, 200, r)
        third = self.node.post_job({'module': self.node.module('hello')}, wait='30s', token=token)
        self.assertEqual(third.status, 201, third)

    def test_jobs_in_flight_are_counted_across_a_restart(self):
        token = self.add_user('restarted', 'submit', max_jobs_in_flight=1)['token']
        loop = {'module': self.node.module('loop'),
                'limits': {'fuel': base.BIG_FUEL, 'wall_time_ms': 120000}}
        first = self.node.post_job(loop, token=token)
        self.assertEqual(first.status, 201, first)
        self.addCleanup(lambda: self.node.cancel(first.json()['id']))
        self.node.kill()  # SIGKILL: the job is recovered as unfinished at the next start
        self.node.start()
        self.assertIn(self.node.job(first.json()['id'])['state'], ('queued', 'running'))
        second = self.node.post_job(loop, token=token)
        self.assertEqual(second.status, 429, 'the job from before the restart still counts')

    def test_expired_tokens_are_refused(self):
        token = self.add_user('brief', 'read', expires_in_seconds=1)['token']
        self.assertEqual(self.node.call('GET', '/v1/me', token=token).status, 200)
        deadline = time.monotonic() + 10
        while True:
            r = self.node.call('GET', '/v1/me', token=token)
            if r.status != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.status, 401, r)
        self.assertIn('expired', r.json()['message'])

    def test_rotate_and_remove_revoke_at_once(self):
        old = self.add_user('carol', 'submit')['token']
        r = self.node.call('POST', '/v1/users/carol/token')
        self.assertEqual(r.status, 200, r)
        new = r.json()['token']
        self.assertEqual(r.headers['Cache-Control'], 'no-store')
        self.assertEqual(self.node.call('GET', '/v1/me', token=old).status, 401)
        self.assertEqual(self.node.call('GET', '/v1/me', token=new).json()['name'], 'carol')
        self.assertEqual(self.node.call('DELETE', '/v1/users/carol').status, 200)
        self.assertEqual(self.node.call('GET', '/v1/me', token=new).status, 401)
        self.assertEqual(self.node.call('DELETE', '/v1/users/carol').status, 404)
        self.assertEqual(self.node.call('DELETE', '/v1/users/admin').status, 409)
        # Users never come back with their tokens.
        listed = self.node.call('GET', '/v1/users').json()['users']
        self.assertNotIn('token', json.dumps(listed).replace('"node_identity"', ''))
        # Only the hashes are on disk.
        with open(os.path.join(self.node.data_dir, 'users.db'), 'rb') as f:
            stored = f.read()
        for user in self.users.values():
            self.assertNotIn(user['token'].encode(), stored)

    def test_bad_user_requests_name_the_problem(self):
        for body, words in (({'name': 'Bad Name'}, 'not valid'), ({'name': 'x', 'role': 'root'},
                                                                   'not admin, submit or read'),
                            ({'name': 'x', 'requests_per_second': -1}, 'non-negative'),
                            ({'name': 'x', 'colour': 'red'}, 'unknown field'),
                            ({'name': 'viewer'}, 'exists')):
            with self.subTest(body=body):
                r = self.node.call('POST', '/v1/users', json.dumps(body),
                                   {'Content-Type': 'application/json'})
                self.assertIn(r.status, (400, 409), r)
                self.assertIn(words, r.json()['message'])

    def test_cross_origin_changes_are_refused(self):
        body = json.dumps({'module': self.node.module('hello')})
        for origin, want in (('http://evil.example', 403), ('null', 403),
                             (f'http://{self.node.host}:{self.node.port}', 201)):
            with self.subTest(origin=origin):
                r = self.node.call('POST', '/v1/jobs', body,
                                   {'Content-Type': 'application/json', 'Origin': origin})
                self.assertEqual(r.status, want, r)
        # Reads are not changes: a foreign Origin on a GET is answered (CORS keeps it unread).
        r = self.node.call('GET', '/v1/me', headers={'Origin': 'http://evil.example'})
        self.assertEqual(r.status, 200)

    # --- the CLI ------------------------------------------------------------------------------

    def mesh(self, *args, token=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}
        if token:
            env['MESH_TOKEN'] = token
        return subprocess.run([base.MESH, '--data-dir', self.node.data_dir, *args],
                              capture_output=True, text=True, env=env, timeout=60)

    def test_cli_user_commands(self):
        added = self.mesh('user', 'add', 'dave', '--role', 'submit', '--expires', '30d',
                          '--rps', '50')
        self.assertEqual(added.returncode, 0, added.stderr)
        token = added.stdout.strip()
        self.assertRegex(token, r'^[0-9a-f]{64}$')  # stdout holds the token alone
        self.assertIn('shown this once', added.stderr)
        me = self.mesh('whoami', token=token)
        self.assertEqual(me.returncode, 0, me.stderr)
        self.assertIn('dave (role submit)', me.stdout)
        self.assertIn('50 requests/s', me.stdout)
        listed = self.mesh('user', 'list')
        self.assertIn('dave', listed.stdout)
        self.assertNotIn(token, listed.stdout)
        refused = self.mesh('user', 'add', 'eve', token=token)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn('needs admin', refused.stderr)
        self.assertNotEqual(self.mesh('user', 'token', 'dave').returncode, 0)  # no --rotate
        rotated = self.mesh('user', 'token', 'dave', '--rotate')
        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        self.assertNotEqual(self.mesh('whoami', token=token).returncode, 0)
        self.assertEqual(self.mesh('whoami', token=rotated.stdout.strip()).returncode, 0)
        self.assertEqual(self.mesh('user', 'rm', 'dave').returncode, 0)
        self.assertNotEqual(self.mesh('whoami', token=rotated.stdout.strip()).returncode, 0)


class AnonymousReadsTest(NodeTest):
    """[api] anonymous_reads opens what a read user sees, and no more: no job's data, nothing
    that changes state, no one's ledger history."""
    FLAGS = ('--engine', 'interp')
    CONFIG = '[api]\nanonymous_reads = true\n'

    def test_anonymous_reads_see_what_a_reader_sees(self):
        job = self.node.submit('echo', inputs=[b'private input\n'], wait='30s')
        self.assertEqual(job['state'], 'succeeded', job)
        for path in ('/v1/jobs', f'/v1/jobs/{job["id"]}', f'/v1/jobs/{job["id"]}/history',
                     '/v1/peers', '/v1/reputation', '/v1/ledger/balance'):
            with self.subTest(path=path):
                self.assertEqual(self.node.call('GET', path, token=False).status, 200)
        me = self.node.call('GET', '/v1/me', token=False).json()
        self.assertEqual((me['name'], me['role'], me['anonymous']), ('anonymous', 'read', True))
        for path in (f'/v1/jobs/{job["id"]}/output', f'/v1/blobs/{job["output_cid"]}',
                     f'/v1/blobs/{job["spec"]["inputs"][0]}?job={job["id"]}',
                     '/v1/ledger/history', '/v1/users'):
            with self.subTest(path=path):
                r = self.node.call('GET', path, token=False)
                self.assertIn(r.status, (401, 403), r)
                self.assertNotIn(b'private input', r.body)
        r = self.node.post_job({'module': self.node.module('hello')}, token=False)
        self.assertEqual(r.status, 401, r)


if __name__ == '__main__':
    base.main()
