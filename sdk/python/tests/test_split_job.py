"""Pure tests of mesh_sdk.split_job: the split description, frames, and proof checking against
a Merkle tree built here from RFC 6962's definition."""

import base64
import hashlib
import unittest

from mesh_sdk import SplitJob, decode_frames, encode_frames, leaf_for_cid, verify_chunk_proof


def cid_of(data):
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return 'b' + base64.b32encode(raw).decode('ascii').lower().rstrip('=')


def mth(leaves):
    """RFC 6962 Merkle tree hash of leaf hashes (split at the largest power of two below n)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b'\x01' + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(index, leaves):
    """RFC 6962 audit path, leaf to root."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return path(index, leaves[:k]) + [mth(leaves[k:])]
    return path(index - k, leaves[k:]) + [mth(leaves[:k])]


class SplitJobTest(unittest.TestCase):
    def test_to_spec_uploads_modules_and_defaults_to_concat(self):
        spec = SplitJob.wasm('split.wasm', parts=3).merge_wasm('merge.wasm').per_chunk('c.wasm')
        out = spec.to_spec(lambda m: 'cid-of-' + m)
        self.assertEqual(out, {'splitter': {'kind': 'wasm', 'module': 'cid-of-split.wasm',
                                            'parts': 3},
                               'merge': {'kind': 'wasm', 'module': 'cid-of-merge.wasm'},
                               'chunk_module': 'cid-of-c.wasm'})
        self.assertEqual(SplitJob.bytes(10).to_spec(),
                         {'splitter': {'kind': 'bytes', 'chunk_bytes': 10},
                          'merge': {'kind': 'concat'}})

    def test_bad_arguments_are_refused(self):
        for bad in (lambda: SplitJob.lines(0), lambda: SplitJob.lines(100001),
                    lambda: SplitJob.bytes(0), lambda: SplitJob.records(2, ''),
                    lambda: SplitJob.records(2, 'x' * 17)):
            with self.assertRaises(ValueError):
                bad()
        with self.assertRaises(TypeError):
            SplitJob.lines('3')

    def test_frames_round_trip_and_truncation_is_refused(self):
        chunks = [b'', b'a', b'hello' * 100]
        data = encode_frames(chunks)
        self.assertEqual(decode_frames(data), chunks)
        for cut in (1, 5, len(data) - 1):
            with self.assertRaises(ValueError):
                decode_frames(data[:cut])
        with self.assertRaises(ValueError):
            decode_frames(b'')

    def test_every_proof_of_every_tree_size_verifies_and_altered_ones_do_not(self):
        for size in range(1, 18):
            cids = [cid_of(b'chunk output %d' % i) for i in range(size)]
            leaves = [leaf_for_cid(c) for c in cids]
            root = mth(leaves).hex()
            for i in range(size):
                answer = {'output_cid': cids[i], 'merkle_root': root,
                          'proof': {'index': i, 'tree_size': size,
                                    'path': [h.hex() for h in path(i, leaves)]}}
                self.assertTrue(verify_chunk_proof(answer), (size, i))
                if size > 1:
                    wrong_leaf = dict(answer, output_cid=cids[(i + 1) % size])
                    self.assertFalse(verify_chunk_proof(wrong_leaf), (size, i))
                    wrong_index = dict(answer, proof=dict(answer['proof'], index=(i + 1) % size))
                    self.assertFalse(verify_chunk_proof(wrong_index), (size, i))
                self.assertFalse(verify_chunk_proof(answer, expected_root='00' * 32))

    def test_a_malformed_cid_is_refused(self):
        with self.assertRaises(ValueError):
            leaf_for_cid('Qm-not-a-cidv1')


if __name__ == '__main__':
    unittest.main()
