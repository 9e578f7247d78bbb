"""Describing split/execute/merge jobs, and checking their chunk proofs.

A split job runs one module over many chunks of its first input, in parallel across the mesh,
and merges the chunk outputs in order::

    from mesh_sdk import Client, SplitJob
    mesh = Client()
    job = mesh.submit('matmul.wasm', inputs=[a_bytes, b_bytes], args=['--block', '100'],
                      split=SplitJob.bytes(8000), placement='remote')
    job = mesh.wait(job.id)
    chunks = mesh.chunks(job.id)              # each chunk's job, state, output and executor
    proof = mesh.chunk_proof(job.id, 3)
    assert verify_chunk_proof(proof)          # checked here, without trusting the node

The node cuts the first input; every other input goes whole to every chunk after its bytes
(``b_bytes`` above reaches each chunk once). A WASM splitter writes its chunks as frames (per
chunk a little-endian uint32 length, then the bytes); a WASM merger reads the chunk outputs as
frames on stdin. :func:`encode_frames` and :func:`decode_frames` speak that format.
"""

import hashlib
import struct

__all__ = ['SplitJob', 'verify_chunk_proof', 'leaf_for_cid', 'encode_frames', 'decode_frames']

MAX_PARTS = 100000


def _count(name, value, low=1, high=MAX_PARTS):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, not {type(value).__name__}')
    if not low <= value <= high:
        raise ValueError(f'{name} must be in {low}..{high}, got {value}')
    return value


class SplitJob:
    """How a job is split, which module runs per chunk, and how outputs merge (the spec's
    ``split``). Build one with :meth:`bytes`, :meth:`lines`, :meth:`records` or :meth:`wasm`,
    then optionally :meth:`merge_wasm` and :meth:`per_chunk`. Modules may be CIDs, bytes or
    paths: the client uploads them when it submits."""

    def __init__(self, splitter):
        self.splitter = splitter
        self.merge = {'kind': 'concat'}
        self.chunk_module = None

    @classmethod
    def bytes(cls, chunk_bytes):
        """Chunks of ``chunk_bytes`` bytes (the last may be shorter)."""
        return cls({'kind': 'bytes', 'chunk_bytes': _count('chunk_bytes', chunk_bytes, 1, 2**53)})

    @classmethod
    def lines(cls, parts):
        """At most ``parts`` parts of whole lines."""
        return cls({'kind': 'lines', 'parts': _count('parts', parts)})

    @classmethod
    def records(cls, parts, separator='\n'):
        """At most ``parts`` parts of whole records ending with ``separator`` (1..16 bytes)."""
        if not isinstance(separator, str) or not 1 <= len(separator.encode()) <= 16:
            raise ValueError('separator must be a str of 1..16 bytes')
        return cls({'kind': 'records', 'parts': _count('parts', parts), 'separator': separator})

    @classmethod
    def wasm(cls, module, parts=1):
        """A user split module: it gets the first input on stdin and MESH_SPLIT_PARTS=parts,
        and writes its chunks as frames."""
        return cls({'kind': 'wasm', 'module': module, 'parts': _count('parts', parts)})

    @classmethod
    def segments(cls):
        """One chunk per segment of the first input, a stored file (:meth:`Client.store_put`):
        each chunk reads only its own segment's shards from the holders."""
        return cls({'kind': 'segments'})

    def merge_wasm(self, module):
        """Merge with a user module (the chunk outputs as frames on stdin) instead of
        concatenating them in order. Returns self."""
        self.merge = {'kind': 'wasm', 'module': module}
        return self

    def per_chunk(self, module):
        """Run ``module`` on each chunk instead of the job's module. Returns self."""
        self.chunk_module = module
        return self

    def to_spec(self, blob_ref=lambda m: m):
        """The spec's ``split`` object; ``blob_ref`` turns each module into a CID."""
        splitter = dict(self.splitter)
        if 'module' in splitter:
            splitter['module'] = blob_ref(splitter['module'])
        merge = dict(self.merge)
        if 'module' in merge:
            merge['module'] = blob_ref(merge['module'])
        out = {'splitter': splitter, 'merge': merge}
        if self.chunk_module is not None:
            out['chunk_module'] = blob_ref(self.chunk_module)
        return out


_B32 = 'abcdefghijklmnopqrstuvwxyz234567'


def _cid_digest(cid):
    """The SHA-256 digest inside a base32 CIDv1 (``b`` + lower-case base32, no padding)."""
    if not isinstance(cid, str) or not cid.startswith('b'):
        raise ValueError(f'not a base32 CIDv1: {cid!r}')
    bits, value, out = 0, 0, bytearray()
    for ch in cid[1:]:
        i = _B32.find(ch)
        if i < 0:
            raise ValueError(f'not a base32 CIDv1: {cid!r}')
        value, bits = (value << 5) | i, bits + 5
        if bits >= 8:
            bits -= 8
            out.append((value >> bits) & 0xff)
    # version 1, a one-byte codec (raw 0x55 or dag-json 0x0129 is two bytes), sha2-256 (0x12, 32)
    if len(out) < 36 or out[0] != 1 or out[-34:-32] != b'\x12\x20':
        raise ValueError(f'not a CIDv1 with a SHA-256 digest: {cid!r}')
    return bytes(out[-32:])


def leaf_for_cid(cid):
    """The Merkle leaf of a chunk output: SHA-256(0x00 || the digest its CID carries)."""
    return hashlib.sha256(b'\x00' + _cid_digest(cid)).digest()


def _node(left, right):
    return hashlib.sha256(b'\x01' + left + right).digest()


def verify_chunk_proof(answer, expected_root=None):
    """Checks ``GET /v1/jobs/{id}/chunks/{index}/proof`` (as :meth:`Client.chunk_proof` returns
    it) by RFC 6962 inclusion: the chunk output's leaf, the path and the tree size must give the
    root. ``expected_root`` (hex), when given, is the root you trust (e.g. from the job's
    report); otherwise the answer's own ``merkle_root``. Returns True or False; malformed input
    raises ValueError."""
    proof = answer['proof']
    index, size = proof['index'], proof['tree_size']
    path = [bytes.fromhex(h) for h in proof['path']]
    if not 0 <= index < size:
        raise ValueError(f'index {index} is not below tree_size {size}')
    root = bytes.fromhex(expected_root or answer['merkle_root'])
    node, fn, sn = leaf_for_cid(answer['output_cid']), index, size - 1
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = _node(sibling, node)
            while (fn & 1) == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = _node(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and node == root


def encode_frames(chunks):
    """Chunks (bytes) as frames: per chunk a little-endian uint32 length, then its bytes."""
    return b''.join(struct.pack('<I', len(c)) + bytes(c) for c in chunks)


def decode_frames(data):
    """The chunks in a frame stream; ValueError for a truncated frame or an empty stream."""
    out, at = [], 0
    while at < len(data):
        if len(data) - at < 4:
            raise ValueError(f'frame {len(out)} at byte {at}: truncated length')
        (n,) = struct.unpack_from('<I', data, at)
        at += 4
        if len(data) - at < n:
            raise ValueError(f'frame {len(out)} at byte {at - 4}: says {n} bytes, '
                             f'{len(data) - at} left')
        out.append(bytes(data[at:at + n]))
        at += n
    if not out:
        raise ValueError('no frames (an empty stream)')
    return out
