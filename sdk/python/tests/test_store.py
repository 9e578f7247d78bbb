"""Client.store_* against four real meshd joined on loopback (gRPC + mutual TLS): a file put
with code 2+1 is spread over the three other nodes, read back to memory and to a path, listed,
inspected and removed; bad codes and unknown handles raise the mapped errors. Paths come from
the environment as for test_client (MESH_MESHD, MESH_EXAMPLES)."""

import os
import shutil
import tempfile
import unittest

import mesh_sdk
from mesh_sdk import Client

from .test_client import EXAMPLES, MESHD, launch_meshd, log_tail, stop_meshd, wait_until


class StoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (MESHD and EXAMPLES):
            raise RuntimeError('set MESH_MESHD and MESH_EXAMPLES; `ctest -R python_sdk` sets both')
        cls.tmp = tempfile.mkdtemp(prefix='mesh_sdk_store.')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.nodes = []
        for name in ('owner', 'h1', 'h2', 'h3'):
            data_dir = os.path.join(cls.tmp, name)
            os.makedirs(data_dir, mode=0o700)
            with open(os.path.join(data_dir, 'meshd.toml'), 'w') as f:
                f.write('[mesh]\nheartbeat = "200ms"\ndead_after = "1500ms"\n'
                        '[storage]\nsegment_size = "64KiB"\n')
            flags = ['--mesh-listen', '127.0.0.1:0']
            if cls.nodes:
                flags += ['--peer', cls.nodes[0]['mesh']]
            log_path = os.path.join(cls.tmp, name + '.log')
            proc, url = launch_meshd(data_dir, log_path, flags)
            cls.addClassCleanup(stop_meshd, proc)
            with open(os.path.join(data_dir, 'mesh.addr')) as f:
                mesh_addr = f.read().strip()
            cls.nodes.append({'url': url, 'mesh': mesh_addr, 'dir': data_dir, 'log': log_path})
        cls.client = Client(data_dir=cls.nodes[0]['dir'])

        def holders_heard():
            peers = cls.client.peers()['peers']
            return sum(1 for p in peers if p['state'] == 'alive' and
                       p.get('capacity', {}).get('storage_free', 0) > 0) == 3

        try:
            wait_until(holders_heard, 20, 'the owner to hear three holders')
        except AssertionError:
            raise AssertionError('\n'.join(log_tail(n['log']) for n in cls.nodes)) from None

    def test_put_get_list_stat_remove(self):
        data = os.urandom(150_000)
        stored = self.client.store_put(data, name='blob.bin', code='2+1')
        self.assertEqual(stored['size'], len(data))
        self.assertEqual(stored['code'], '2+1')
        self.assertTrue(stored['encrypted'])
        self.assertEqual(len({h['did'] for h in stored['holders']}), 3)
        self.assertNotIn(self.client.node()['did'], {h['did'] for h in stored['holders']})
        cid = stored['cid']
        self.assertEqual(self.client.store_get(cid), data)
        dest = os.path.join(self.tmp, 'back.bin')
        self.assertEqual(self.client.store_get(cid, dest), dest)
        with open(dest, 'rb') as f:
            self.assertEqual(f.read(), data)
        self.assertIn(cid, [f['cid'] for f in self.client.stored_files()])
        stat = self.client.store_stat(cid)
        self.assertTrue(stat['readable'])
        self.assertEqual(stat['holders_alive'], 3)
        removed = self.client.store_rm(cid)
        self.assertEqual(removed['holders_told'], 3)
        with self.assertRaises(mesh_sdk.NotFound):
            self.client.store_stat(cid)

    def test_a_path_is_streamed_and_named(self):
        path = os.path.join(self.tmp, 'from-disk.dat')
        with open(path, 'wb') as f:
            f.write(os.urandom(70_000))
        stored = self.client.store_put(path, code='1+2', encrypt=False)
        self.assertEqual(stored['name'], 'from-disk.dat')
        self.assertFalse(stored['encrypted'])
        with open(path, 'rb') as f:
            self.assertEqual(self.client.store_get(stored['cid']), f.read())

    def test_a_job_reads_a_stored_file_and_stores_its_output(self):
        """A stored file as a job's input (its executor is granted the key for that job alone),
        and the job's output stored in turn (store_output)."""
        data = os.urandom(130_000)
        cid = self.client.store_put(data, code='2+1')['cid']
        job = self.client.submit(os.path.join(EXAMPLES, 'echo.wasm'), inputs=[cid],
                                 placement='remote', store_output='2+1')
        done = self.client.wait(job.id, timeout=60)
        self.assertEqual(done.state, 'succeeded', done.raw)
        self.assertEqual(self.client.output(job.id), data)
        stored = wait_until(lambda: self.client.job(job.id).stored_output, 30,
                            'the output to be stored')
        self.assertEqual(self.client.store_get(stored), data)
        stat = self.client.store_stat(stored)
        self.assertEqual(stat['code'], '2+1')
        self.assertEqual(stat['name'], f'output of job {job.id}')

        # Split over its segments (130,000 bytes in 64 KiB: two chunks, one per segment).
        job = self.client.submit(os.path.join(EXAMPLES, 'echo.wasm'), inputs=[cid],
                                 placement='remote', split=mesh_sdk.SplitJob.segments())
        done = self.client.wait(job.id, timeout=60)
        self.assertEqual(done.state, 'succeeded', done.raw)
        self.assertEqual(self.client.output(job.id), data)
        self.assertEqual(len(self.client.chunks(job.id)['chunks']), 2)

    def test_bad_requests_raise(self):
        with self.assertRaises(mesh_sdk.InvalidArgument):
            self.client.store_put(b'x' * 100_000, code='9')
        with self.assertRaises(mesh_sdk.FailedPrecondition) as e:
            self.client.store_put(b'x' * 100_000, code='4+2')  # six holders; three exist
        self.assertIn('(3 missing)', str(e.exception))
        with self.assertRaises(mesh_sdk.NotFound):
            self.client.store_get('bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea')
        dest = os.path.join(self.tmp, 'never.bin')
        with self.assertRaises(mesh_sdk.NotFound):
            self.client.store_get('bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea',
                                  dest)
        self.assertFalse(os.path.exists(dest))
        self.assertFalse(os.path.exists(dest + '.partial'))


if __name__ == '__main__':
    unittest.main()
