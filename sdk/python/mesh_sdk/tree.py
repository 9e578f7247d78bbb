"""Directory trees in jobs: pure helpers for the client's ``upload_dir``, ``submit(mounts=...)``
and ``output_files``.

A tree on a node is a directory manifest: a dag-json block listing every entry (directories,
files by the CID of their bytes, symlinks with their target), sorted by path, whose CID names the
tree. :func:`scan_dir` lists a local directory the way the node and ``mesh submit --mount`` do
(symlinks recorded, never followed; FIFOs, sockets and devices refused); :func:`manifest_cid`
computes a manifest's CID from its entries without trusting the node; :func:`safe_entries`
checks a manifest read back from a node before anything is written to disk.
"""

import base64
import hashlib
import json
import os
import stat

from .errors import InvalidArgument

__all__ = ['scan_dir', 'manifest_bytes', 'manifest_cid', 'cid_of', 'normalise_mounts',
           'safe_entries']

_DAG_JSON = b'\x01\xa9\x02\x12\x20'  # CIDv1, dag-json (0x0129 as a varint), sha2-256, 32 bytes
_RAW = b'\x01\x55\x12\x20'
MAX_ENTRIES = 100_000
MAX_PATH_BYTES = 1024


def _cid(prefix, data):
    return 'b' + base64.b32encode(prefix + hashlib.sha256(data).digest()).decode().lower().rstrip('=')


def cid_of(data):
    """The raw CID of ``data`` (what the node names a blob of these bytes)."""
    return _cid(_RAW, data)


def scan_dir(root):
    """The entries of the tree at ``root``, sorted by path:
    ``[{'path', 'kind': 'dir'|'file'|'symlink', 'file': host path, 'target'}]``."""
    if not os.path.isdir(root):
        raise InvalidArgument(400, 'invalid_argument', f'{root} is not a directory')
    entries = []

    def walk(host, rel):
        with os.scandir(host) as it:
            names = sorted(e.name for e in it)
        for name in names:
            path = f'{rel}/{name}' if rel else name
            if len(path.encode('utf-8', 'surrogateescape')) > MAX_PATH_BYTES:
                raise InvalidArgument(400, 'invalid_argument',
                                      f'{os.path.join(host, name)}: path longer than '
                                      f'{MAX_PATH_BYTES} bytes')
            full = os.path.join(host, name)
            mode = os.lstat(full).st_mode
            if len(entries) >= MAX_ENTRIES:
                raise InvalidArgument(400, 'invalid_argument',
                                      f'{root} has more than {MAX_ENTRIES} entries')
            if stat.S_ISLNK(mode):
                entries.append({'path': path, 'kind': 'symlink', 'target': os.readlink(full)})
            elif stat.S_ISDIR(mode):
                entries.append({'path': path, 'kind': 'dir'})
                walk(full, path)
            elif stat.S_ISREG(mode):
                entries.append({'path': path, 'kind': 'file', 'file': full})
            else:
                raise InvalidArgument(400, 'invalid_argument',
                                      f'{full} is not a file, directory or symlink; a tree '
                                      'holds only those')

    walk(root, '')
    entries.sort(key=lambda e: e['path'].encode('utf-8', 'surrogateescape'))
    return entries


def manifest_bytes(entries):
    """The canonical manifest of ``entries`` (each with path, kind, and cid + size for files or
    target for symlinks): keys sorted, no whitespace, entries sorted by path."""
    out = []
    for e in sorted(entries, key=lambda e: e['path'].encode('utf-8')):
        item = {'kind': e['kind'], 'path': e['path']}
        if e['kind'] == 'file':
            item['cid'] = {'/': e['cid']}
            item['size'] = e['size']
        elif e['kind'] == 'symlink':
            item['target'] = e['target']
        out.append(item)
    doc = {'entries': out, 'type': 'mesh/dir', 'version': 1}
    return json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()


def manifest_cid(entries):
    """The CID of the manifest of ``entries``: what the node must answer for the same tree."""
    return _cid(_DAG_JSON, manifest_bytes(entries))


def normalise_mounts(mounts):
    """``mounts`` as a list of (source, guest path, writable): accepts a dict {guest: source},
    or a sequence of (source, guest), (source, guest, writable) or dicts with source (or cid),
    path and writable."""
    if isinstance(mounts, dict):
        mounts = [(source, guest) for guest, source in mounts.items()]
    out = []
    for m in mounts:
        if isinstance(m, dict):
            source = m.get('source', m.get('cid'))
            out.append((source, m['path'], bool(m.get('writable', False))))
        elif isinstance(m, (tuple, list)) and len(m) in (2, 3):
            out.append((m[0], m[1], bool(m[2]) if len(m) == 3 else False))
        else:
            raise TypeError(f'a mount is (source, guest_path[, writable]) or a dict, not {m!r}')
    for _, guest, _ in out:
        if not isinstance(guest, str) or not guest.startswith('/'):
            raise InvalidArgument(400, 'invalid_argument',
                                  f'mount path {guest!r} must be an absolute guest path')
    return out


def _leaves(target, link_path):
    """True when the symlink target, resolved lexically from its directory, leaves the tree.
    Absolute targets and any '..' component count as leaving: a conservative rule that needs no
    knowledge of the tree's other links."""
    del link_path
    return target.startswith('/') or '..' in target.split('/')


def safe_entries(manifest, expected_cid):
    """The entries of a manifest read from a node, once checked: its bytes hash to
    ``expected_cid``, it parses, paths are relative and normalised with parents listed, and no
    symlink leads out of the tree. Raises InvalidArgument otherwise."""
    if _cid(_DAG_JSON, manifest) != expected_cid:
        raise InvalidArgument(400, 'invalid_argument',
                              f'the manifest does not hash to {expected_cid}')
    doc = json.loads(manifest)
    if not isinstance(doc, dict) or doc.get('type') != 'mesh/dir' or doc.get('version') != 1:
        raise InvalidArgument(400, 'invalid_argument', 'not a mesh/dir manifest of version 1')
    dirs, entries = set(), []
    for e in doc.get('entries', []):
        path = e.get('path')
        parts = path.split('/') if isinstance(path, str) else ['']
        if not path or any(p in ('', '.', '..') for p in parts) or '\0' in path:
            raise InvalidArgument(400, 'invalid_argument', f'bad path in manifest: {path!r}')
        parent = '/'.join(parts[:-1])
        if parent and parent not in dirs:
            raise InvalidArgument(400, 'invalid_argument', f'{path}: parent not a listed dir')
        kind = e.get('kind')
        if kind == 'dir':
            dirs.add(path)
            entries.append({'path': path, 'kind': kind})
        elif kind == 'file':
            entries.append({'path': path, 'kind': kind, 'cid': e['cid']['/'], 'size': e['size']})
        elif kind == 'symlink':
            if _leaves(e.get('target', ''), path):
                raise InvalidArgument(400, 'invalid_argument',
                                      f'symlink {path} -> {e.get("target")} leads out of the tree')
            entries.append({'path': path, 'kind': kind, 'target': e['target']})
        else:
            raise InvalidArgument(400, 'invalid_argument', f'{path}: unknown kind {kind!r}')
    return entries
