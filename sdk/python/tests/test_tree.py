"""Unit tests of mesh_sdk.tree: pure functions, no node needed.

The manifest bytes and CIDs computed here must be the node's byte for byte (the C++ encoder's
test, src/cas/dir_manifest_test.cc, pins the same literal), so a client can check the CID a node
answers for a tree it uploaded.
"""

import os
import tempfile
import unittest

from mesh_sdk import tree
from mesh_sdk.errors import InvalidArgument

HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'


class TreeTest(unittest.TestCase):
    def test_manifest_bytes_are_the_nodes(self):
        entries = [{'path': 'a/x.txt', 'kind': 'file', 'cid': HELLO_CID, 'size': 11},
                   {'path': 'a', 'kind': 'dir'},
                   {'path': 'a-b', 'kind': 'symlink', 'target': 'a/x.txt'}]
        self.assertEqual(
            tree.manifest_bytes(entries).decode(),
            '{"entries":[{"kind":"dir","path":"a"},'
            '{"kind":"symlink","path":"a-b","target":"a/x.txt"},'
            '{"cid":{"/":"' + HELLO_CID + '"},"kind":"file","path":"a/x.txt","size":11}],'
            '"type":"mesh/dir","version":1}')
        self.assertEqual(tree.cid_of(b'hello world'), HELLO_CID)
        self.assertTrue(tree.manifest_cid(entries).startswith('baguqeera'))  # dag-json
        # The empty tree's CID, pinned on both sides (src/cas/dir_manifest_test.cc).
        self.assertEqual(tree.manifest_cid([]),
                         'baguqeeraypwknaktr33osavouc7mtoftrt7xhex6gmkw6jjusfgzti2kivaq')

    def test_scan_dir_lists_sorted_and_keeps_links(self):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, 'a', 'deep'))
            with open(os.path.join(root, 'a', 'x.txt'), 'wb') as f:
                f.write(b'x')
            with open(os.path.join(root, 'a-b'), 'wb') as f:
                f.write(b'')
            os.symlink('/etc/passwd', os.path.join(root, 'link'))
            entries = tree.scan_dir(root)
            self.assertEqual([e['path'] for e in entries],
                             ['a', 'a-b', 'a/deep', 'a/x.txt', 'link'])
            self.assertEqual(entries[4], {'path': 'link', 'kind': 'symlink',
                                          'target': '/etc/passwd'})
            os.mkfifo(os.path.join(root, 'pipe'))
            with self.assertRaises(InvalidArgument):
                tree.scan_dir(root)

    def test_safe_entries_refuses_what_could_escape(self):
        def manifest(entries):
            data = tree.manifest_bytes(entries)
            return data, tree.manifest_cid(entries)

        good = [{'path': 'd', 'kind': 'dir'},
                {'path': 'd/f', 'kind': 'file', 'cid': HELLO_CID, 'size': 11},
                {'path': 'd/l', 'kind': 'symlink', 'target': 'f'}]
        data, cid = manifest(good)
        self.assertEqual([e['path'] for e in tree.safe_entries(data, cid)], ['d', 'd/f', 'd/l'])
        with self.assertRaises(InvalidArgument):
            tree.safe_entries(data + b' ', cid)  # not the bytes the CID names
        for bad in ([{'path': '../x', 'kind': 'dir'}],
                    [{'path': 'x/y', 'kind': 'dir'}],  # parent not listed
                    [{'path': 'l', 'kind': 'symlink', 'target': '/etc/passwd'}],
                    [{'path': 'l', 'kind': 'symlink', 'target': '../x'}]):
            data, cid = manifest(bad)
            with self.assertRaises(InvalidArgument, msg=str(bad)):
                tree.safe_entries(data, cid)

    def test_normalise_mounts(self):
        self.assertEqual(tree.normalise_mounts({'/data': 'dir'}), [('dir', '/data', False)])
        self.assertEqual(tree.normalise_mounts([('d', '/w', True), ('f', '/in/f')]),
                         [('d', '/w', True), ('f', '/in/f', False)])
        self.assertEqual(tree.normalise_mounts([{'cid': 'bafy', 'path': '/x'}]),
                         [('bafy', '/x', False)])
        with self.assertRaises(InvalidArgument):
            tree.normalise_mounts({'data': 'dir'})


if __name__ == '__main__':
    unittest.main()
