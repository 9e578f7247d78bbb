"""The HTTP client of one Mesh node (meshd), standard library only.

It finds the node the way the ``mesh`` CLI does, so a script and the CLI talk to the same node
without configuration, and maps every error answer to a :mod:`mesh_sdk.errors` exception: a call
either returns what the API documents or raises, never returns a half-understood answer.
"""

import http.client
import json
import os
import re
import socket
import time
import urllib.parse

from . import errors, tree
from .job import Job

__all__ = ['Client', 'DEFAULT_URL']

DEFAULT_URL = 'http://127.0.0.1:7420'
_CID_RE = re.compile(r'^b[a-z2-7]{20,}$')  # a base32 CIDv1, as the node names blobs
_MAX_WAIT_S = 600  # the API's long poll waits at most 10 minutes per request
_PAGE = 1000  # the API's largest page
_STORE_WAIT_S = 1800  # a put or get moves the file between peers before the node answers
_CHUNK = 1 << 20


def _default_data_dir():
    return os.environ.get('MESH_DATA_DIR') or os.path.join(os.path.expanduser('~'), '.mesh')


def _read_small(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read(4096).strip() or None
    except FileNotFoundError:
        return None


class Client:
    """A client of one node's HTTP API.

    ``url``: the node (default ``$MESH_NODE``, else ``<data dir>/meshd.url`` written by a
    running meshd, else http://127.0.0.1:7420). ``token``: the API token, sent with every
    request (default ``$MESH_TOKEN``, else ``<data dir>/api.token``); every route but
    ``node()`` and ``metrics`` needs it unless the node allows anonymous reads. ``data_dir``: default ``$MESH_DATA_DIR``, else ``~/.mesh``. ``timeout``:
    seconds to wait for any one answer (long polls add their own wait to it).
    """

    def __init__(self, url=None, token=None, data_dir=None, timeout=30):
        self.data_dir = data_dir or _default_data_dir()
        self.url = (url or os.environ.get('MESH_NODE')
                    or _read_small(os.path.join(self.data_dir, 'meshd.url')) or DEFAULT_URL)
        self.token = (token or os.environ.get('MESH_TOKEN')
                      or _read_small(os.path.join(self.data_dir, 'api.token')))
        self.timeout = timeout
        split = urllib.parse.urlsplit(self.url)
        if split.scheme not in ('http', 'https') or not split.hostname:
            raise ValueError(f'not a node URL: {self.url!r} (expected http://HOST:PORT)')
        self._scheme, self._host, self._port = split.scheme, split.hostname, split.port
        self._prefix = split.path.rstrip('/')

    def __repr__(self):
        return f'Client({self.url!r})'

    # --- transport -----------------------------------------------------------------------------

    def _connect(self, timeout):
        cls = http.client.HTTPSConnection if self._scheme == 'https' else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _path(self, path, query=None):
        if query:
            query = {k: v for k, v in query.items() if v is not None}
        return self._prefix + path + ('?' + urllib.parse.urlencode(query) if query else '')

    def _headers(self, auth, extra=None):
        """``auth``: the request cannot work without the token (it changes state). Reads carry
        it too when there is one: nodes serve reads anonymously only if configured to."""
        headers = dict(extra or {})
        if auth or self.token:
            if not self.token:
                raise errors.Unauthenticated(
                    0, 'unauthenticated', f'no API token for {self.url}: pass token=, set '
                    f'MESH_TOKEN, or use the data dir of the node ({self.data_dir} has no '
                    'api.token)')
            headers['Authorization'] = 'Bearer ' + self.token
        return headers

    def _request(self, method, path, body=None, headers=None, query=None, auth=False,
                 extra_timeout=0.0, ok=(200,)):
        """Sends one request, returns (status, headers, body bytes) for a status in ``ok``;
        raises the mapped MeshError for any other answer and Unavailable/DeadlineExceeded when
        none comes."""
        timeout = None if self.timeout is None else self.timeout + extra_timeout
        conn = self._connect(timeout)
        target = self._path(path, query)
        try:
            conn.request(method, target, body=body, headers=self._headers(auth, headers))
            resp = conn.getresponse()
            data = resp.read()
            status, resp_headers = resp.status, resp.headers
        except (socket.timeout, TimeoutError) as e:
            raise errors.DeadlineExceeded(
                0, 'deadline_exceeded',
                f'{method} {target}: no answer from {self.url} within {timeout:g} s') from e
        except (OSError, http.client.HTTPException) as e:
            raise errors.Unavailable(0, 'unavailable', f'cannot reach the node at {self.url} '
                                     f'({method} {target}): {e or type(e).__name__}') from e
        finally:
            conn.close()
        if status not in ok:
            raise errors.error_from_response(status, data)
        return status, resp_headers, data

    def _json(self, method, path, payload=None, **kw):
        body, headers = None, kw.pop('headers', None) or {}
        if payload is not None:
            body = json.dumps(payload).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        status, _, data = self._request(method, path, body=body, headers=headers, **kw)
        try:
            return json.loads(data)
        except ValueError:
            raise errors.BadResponse(status, 'bad_response',
                                     f'{method} {path}: expected JSON, got {data[:200]!r}') from None

    # --- blobs ---------------------------------------------------------------------------------

    def upload(self, data):
        """Stores ``data`` (bytes, or a path to a file) on the node; returns its CID.

        The CID is a hash of the bytes, so uploading the same bytes again is cheap and gives
        the same CID.
        """
        if isinstance(data, (str, os.PathLike)):
            with open(data, 'rb') as f:
                data = f.read()
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'upload takes bytes or a path, not {type(data).__name__}')
        _, _, raw = self._request('POST', '/v1/blobs', body=bytes(data), auth=True, ok=(200, 201),
                                  headers={'Content-Type': 'application/octet-stream'})
        try:
            body = json.loads(raw)
            return body['cid']
        except (ValueError, KeyError, TypeError):
            raise errors.BadResponse(201, 'bad_response',
                                     f'upload: no CID in the answer {raw[:200]!r}') from None

    def get_blob(self, cid, job=None):
        """The bytes of blob ``cid`` (the node checks them against the CID before sending).
        ``job``: a job of yours that names the blob (module, input, output, partial, checkpoint,
        chunk): how a user who is not an admin reads its own jobs' data."""
        return self._request('GET', '/v1/blobs/' + _quote(cid), query={'job': job})[2]

    def upload_dir(self, path):
        """Uploads the directory tree at ``path`` (each file, then the tree as a directory
        manifest: POST /v1/blobs/dir) and returns the manifest's CID, to mount in jobs
        (``submit(mounts=...)``). Symlinks are kept as links; special files are refused. The CID
        is checked against one computed here: the same tree always has the same CID."""
        entries, uploaded = [], {}
        for e in tree.scan_dir(path):
            item = {k: v for k, v in e.items() if k != 'file'}
            if e['kind'] == 'file':
                with open(e['file'], 'rb') as f:
                    data = f.read()
                cid = tree.cid_of(data)
                if cid not in uploaded:
                    uploaded[cid] = self.upload(data)
                    if uploaded[cid] != cid:
                        raise errors.BadResponse(201, 'bad_response',
                                                 f'the node named {e["file"]} {uploaded[cid]}')
                item.update(cid=cid, size=len(data))
            entries.append(item)
        answer = self._json('POST', '/v1/blobs/dir',
                            {'entries': [{k: v for k, v in e.items() if k != 'size'}
                                         for e in entries]}, auth=True, ok=(200, 201))
        expected = tree.manifest_cid(entries)
        if answer.get('cid') != expected:
            raise errors.BadResponse(201, 'bad_response',
                                     f'the node named the tree {answer.get("cid")}, not {expected}')
        return expected

    def _mount_ref(self, source):
        """A CID for a mount's source: a directory is uploaded as a tree, a file or bytes as a
        blob; a str that looks like a CID (of a file or a tree) is used as is."""
        if isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
            return self.upload_dir(source)
        return self._blob_ref(source)

    def output_files(self, job_id, dest=None):
        """The job's output tree (the files it left in its spec's ``output_dir``). Without
        ``dest``: a dict {path: bytes} of its files. With ``dest`` (a new or empty directory):
        the tree written there (directories, files, symlinks that stay inside it), and ``dest``
        returned. Every byte is checked against its CID before it is used."""
        job = self.job(job_id)
        files_cid = (job.raw or {}).get('files_cid')
        if not files_cid:
            raise errors.FailedPrecondition(
                409, 'failed_precondition',
                f'job {job_id} has no output tree (no output_dir, or it has not ended)')
        entries = tree.safe_entries(self.get_blob(files_cid, job=job_id), files_cid)
        contents = {}
        for e in entries:
            if e['kind'] == 'file':
                data = self.get_blob(e['cid'], job=job_id)
                if tree.cid_of(data) != e['cid']:
                    raise errors.BadResponse(200, 'bad_response', f'{e["path"]}: bytes do not '
                                             f'match {e["cid"]}')
                contents[e['path']] = data
        if dest is None:
            return contents
        os.makedirs(dest, exist_ok=True)
        if os.listdir(dest):
            raise errors.FailedPrecondition(409, 'failed_precondition',
                                            f'{dest} is not empty; name a new or empty directory')
        for e in entries:
            target = os.path.join(dest, *e['path'].split('/'))
            if e['kind'] == 'dir':
                os.mkdir(target)
            elif e['kind'] == 'symlink':
                os.symlink(e['target'], target)
            else:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                with os.fdopen(fd, 'wb') as f:
                    f.write(contents[e['path']])
        return dest

    def me(self):
        """The token's user: name, role, DID (its jobs are signed and paid as it), limits."""
        return self._json('GET', '/v1/me')

    def _blob_ref(self, what):
        """A CID for ``what``: a str that looks like a CID is used as is; bytes and paths are
        uploaded first (so callers can pass a local module file or data directly)."""
        if isinstance(what, str) and _CID_RE.match(what) and not os.path.exists(what):
            return what
        return self.upload(what)

    # --- jobs ----------------------------------------------------------------------------------

    def submit(self, module, inputs=(), args=(), env=None, limits=None, placement=None,
               verification=None, requirements=None, priority=0, labels=None,
               idempotency_key=None, deterministic=None, split=None, mounts=None,
               output_dir=None, store_output=None):
        """Submits a job and returns it (usually queued; call :meth:`wait` for the result).

        ``module`` and each of ``inputs`` may be a CID, bytes or a file path (uploaded first);
        the job's stdin is the inputs concatenated. ``limits`` is a dict of fuel, memory_bytes,
        wall_time_ms, max_output_bytes. The same ``idempotency_key`` returns the first job, which
        makes retrying a submission safe. Raises InvalidArgument for a bad spec,
        FailedPrecondition for a missing blob and InsufficientCredit when the escrow is not
        covered. ``split`` (a :class:`~mesh_sdk.split_job.SplitJob`) makes it a split job:
        its first input is cut into chunks run in parallel and merged (see :meth:`chunks`).
        ``mounts``: files the job sees, as {guest_path: source} or a list of (source, guest_path
        [, writable]); a source is a directory (uploaded as a tree), a file, bytes or a CID.
        ``output_dir``: a guest directory whose files become the job's output tree
        (:meth:`output_files`). An input may be a stored file's CID (:meth:`store_put`): the
        job reads its bytes. ``store_output`` ('K+M'): once the job succeeds its output is
        stored across the mesh with that code; the job's ``stored_output`` names it.
        """
        if isinstance(inputs, (str, bytes, bytearray, memoryview, os.PathLike)):
            inputs = [inputs]  # one input, not a sequence of characters or bytes
        spec = {'module': self._blob_ref(module), 'inputs': [self._blob_ref(i) for i in inputs],
                'args': [str(a) for a in args], 'priority': priority}
        for key, value in (('env', env), ('limits', limits), ('placement', placement),
                           ('verification', verification), ('requirements', requirements),
                           ('labels', labels), ('deterministic', deterministic)):
            if value is not None:
                spec[key] = value
        if split is not None:
            spec['split'] = split.to_spec(self._blob_ref)
        if mounts:
            spec['mounts'] = []
            for source, guest, writable in tree.normalise_mounts(mounts):
                mount = {'cid': self._mount_ref(source), 'path': guest}
                if writable:
                    mount['writable'] = True
                spec['mounts'].append(mount)
        if output_dir is not None:
            spec['output_dir'] = output_dir
        if store_output is not None:
            spec['store_output'] = store_output
        headers = {'Idempotency-Key': idempotency_key} if idempotency_key else None
        return Job.from_dict(self._json('POST', '/v1/jobs', spec, headers=headers, auth=True,
                                        ok=(200, 201)))

    def job(self, job_id):
        """The job's current state and, once it ended, its run report. NotFound if unknown."""
        return Job.from_dict(self._json('GET', '/v1/jobs/' + _quote(job_id)))

    def jobs(self, state=None, limit=None, page_size=100, label=None, submitter=None):
        """Jobs on this node, newest first, following the paging cursor (``next_before``) until
        ``limit`` jobs (default: all) were read. ``state`` keeps only jobs in that state,
        ``label`` only those with that label (``'key'`` or ``'key=value'``), ``submitter`` only
        those that DID submitted; the node filters, over all its jobs."""
        out, before = [], None
        while limit is None or len(out) < limit:
            size = min(page_size, _PAGE, *(() if limit is None else (limit - len(out),)))
            page = self._json('GET', '/v1/jobs',
                              query={'state': state, 'limit': size, 'before': before,
                                     'label': label, 'submitter': submitter})
            batch = page.get('jobs')
            if not isinstance(batch, list):
                raise errors.BadResponse(200, 'bad_response', f'no job list in {str(page)[:200]}')
            out.extend(Job.from_dict(j) for j in batch)
            before = page.get('next_before')
            if before is None or not batch:
                break
        return out if limit is None else out[:limit]

    def wait(self, job_id, timeout=None):
        """Waits for the job to end and returns it (whatever the outcome: check ``job.state``).

        Uses the API's long poll (``?wait=``), so it returns as soon as the job ends without
        polling. Raises :class:`~mesh_sdk.errors.JobTimeout` (a TimeoutError) naming the job if
        ``timeout`` seconds pass first; ``None`` waits for ever.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = _MAX_WAIT_S if deadline is None else deadline - time.monotonic()
            wait_ms = max(1, int(min(remaining, _MAX_WAIT_S) * 1000))
            job = Job.from_dict(self._json('GET', '/v1/jobs/' + _quote(job_id),
                                           query={'wait': f'{wait_ms}ms'},
                                           extra_timeout=wait_ms / 1000))
            if job.done:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.JobTimeout(job_id, job.state, timeout)

    def output(self, job_id):
        """The job's output (stdout) once it has ended. FailedPrecondition while it runs,
        NotFound if it ended without output (e.g. cancelled)."""
        return self._request('GET', f'/v1/jobs/{_quote(job_id)}/output')[2]

    def cancel(self, job_id):
        """Cancels a queued or running job; returns it. FailedPrecondition if it already ended."""
        return Job.from_dict(self._json('DELETE', '/v1/jobs/' + _quote(job_id), auth=True))

    def history(self, job_id):
        """The job's hash-linked history (every step as a content-addressed block)."""
        return self._json('GET', f'/v1/jobs/{_quote(job_id)}/history')

    def chunks(self, job_id):
        """A split job's chunks: ``{'stage', 'total', 'done', 'chunks': [{index, job, state,
        input_cid, output_cid, executor, fuel_used}], 'merkle_root'}`` (the root once merged).
        NotFound for a job that is not a split job."""
        return self._json('GET', f'/v1/jobs/{_quote(job_id)}/chunks')

    def chunk_proof(self, job_id, index):
        """The inclusion proof of chunk ``index``'s output under the split job's Merkle root;
        check it with :func:`~mesh_sdk.split_job.verify_chunk_proof`. FailedPrecondition
        before the job merged."""
        return self._json('GET', f'/v1/jobs/{_quote(job_id)}/chunks/{int(index)}/proof')

    def partials(self, job_id):
        """The partial outputs the job made so far (mesh.emit_partial), in order: a list of
        ``{index, cid, bytes, fuel, at}``; fetch each with :meth:`get_blob`. Answers while the
        job runs, also when it runs on another node."""
        return self._json('GET', f'/v1/jobs/{_quote(job_id)}/partials')['partials']

    def checkpoints(self, job_id):
        """The job's checkpoints (mesh.checkpoint), oldest first: ``{index, cid, bytes, fuel,
        at, signed}``. The latest is where the job resumes if its executor fails."""
        return self._json('GET', f'/v1/jobs/{_quote(job_id)}/checkpoints')['checkpoints']

    def explain(self, job_id):
        """Why the job runs where it runs: placement decision, bids and their scores."""
        return self._json('GET', f'/v1/jobs/{_quote(job_id)}/explain')

    # --- events --------------------------------------------------------------------------------

    def events(self, after=None, job=None, timeout=None):
        """Yields the node's server-sent events as dicts, for as long as the stream lasts.

        Each dict is the event's JSON data (seq, type, job_id, time, state and its fields);
        ``type`` and ``seq`` are filled from the SSE ``event:``/``id:`` lines if the data lacks
        them (``gap`` events say some were dropped). ``after`` replays retained events after that
        sequence number (0: all retained), else only new ones come; ``job`` keeps one job's.
        ``timeout``: seconds a read may wait before DeadlineExceeded (default none; the node
        sends a keep-alive comment every 15 s, so use more than that). Close the generator (or
        break out of the loop) to end the stream.
        """
        conn = self._connect(timeout)
        target = self._path('/v1/events', {'after': after, 'job': job})
        try:
            try:
                conn.request('GET', target,
                             headers=self._headers(False, {'Accept': 'text/event-stream'}))
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                raise errors.Unavailable(0, 'unavailable',
                                         f'cannot reach the node at {self.url}: {e}') from e
            if resp.status != 200:
                raise errors.error_from_response(resp.status, resp.read())
            fields = {}
            while True:
                try:
                    line = resp.readline()
                except (socket.timeout, TimeoutError) as e:
                    raise errors.DeadlineExceeded(
                        0, 'deadline_exceeded',
                        f'no event from {self.url} within {timeout:g} s') from e
                except (OSError, http.client.HTTPException) as e:
                    raise errors.Unavailable(0, 'unavailable',
                                             f'event stream from {self.url} broke: {e}') from e
                if not line:
                    return  # the node closed the stream
                line = line.decode('utf-8', 'replace').rstrip('\r\n')
                if line == '':
                    if 'data' in fields or 'event' in fields:
                        yield _event(fields)
                    fields = {}
                elif not line.startswith(':'):
                    name, _, value = line.partition(':')
                    value = value[1:] if value.startswith(' ') else value
                    if name == 'data' and 'data' in fields:
                        value = fields['data'] + '\n' + value
                    fields[name] = value
        finally:
            conn.close()

    # --- files stored across the mesh ----------------------------------------------------------

    def store_put(self, data, name=None, code=None, encrypt=True):
        """Stores ``data`` (bytes, or a path to a file, streamed from disk) across the mesh:
        compressed, encrypted unless ``encrypt=False``, and erasure-coded into k+m shards on k+m
        distinct peers (``code`` 'K+M', default the node's, 4+2; any m may be lost). Returns the
        stored file ({cid, size, code, holders...}); its ``cid`` is the handle for
        :meth:`store_get`. FailedPrecondition when too few peers can hold shards (the message
        names each one left out and why)."""
        headers = {'Content-Type': 'application/octet-stream'}
        query = {'name': name, 'code': code, 'encrypt': None if encrypt else 'false'}
        if isinstance(data, (str, os.PathLike)):
            if name is None:
                query['name'] = os.path.basename(os.fspath(data))
            with open(data, 'rb') as f:
                headers['Content-Length'] = str(os.fstat(f.fileno()).st_size)
                _, _, raw = self._request('POST', '/v1/store', body=f, headers=headers,
                                          query=query, auth=True, ok=(201,),
                                          extra_timeout=_STORE_WAIT_S)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            _, _, raw = self._request('POST', '/v1/store', body=bytes(data), headers=headers,
                                      query=query, auth=True, ok=(201,),
                                      extra_timeout=_STORE_WAIT_S)
        else:
            raise TypeError(f'store_put takes bytes or a path, not {type(data).__name__}')
        try:
            stored = json.loads(raw)
            stored['cid']
            return stored
        except (ValueError, KeyError, TypeError):
            raise errors.BadResponse(201, 'bad_response',
                                     f'store_put: no CID in the answer {raw[:200]!r}') from None

    def store_get(self, cid, dest=None):
        """The bytes of stored file ``cid`` (the node fetches any k shards of each segment from
        the fastest holders and checks every one), or, with ``dest``, writes them to that path
        (streamed; nothing is left at ``dest`` if the transfer fails) and returns the path."""
        path = f'/v1/store/{_quote(cid)}/content'
        if dest is None:
            return self._request('GET', path, extra_timeout=_STORE_WAIT_S)[2]
        timeout = None if self.timeout is None else self.timeout + _STORE_WAIT_S
        conn = self._connect(timeout)
        partial = os.fspath(dest) + '.partial'
        try:
            conn.request('GET', self._path(path), headers=self._headers(False))
            resp = conn.getresponse()
            if resp.status != 200:
                raise errors.error_from_response(resp.status, resp.read())
            with open(partial, 'wb') as out:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
            os.replace(partial, dest)
            return dest
        except (socket.timeout, TimeoutError) as e:
            raise errors.DeadlineExceeded(0, 'deadline_exceeded',
                                          f'GET {path}: no answer within {timeout:g} s') from e
        except (OSError, http.client.HTTPException) as e:
            raise errors.Unavailable(0, 'unavailable', f'GET {path} from {self.url}: {e}') from e
        finally:
            conn.close()
            if os.path.exists(partial):
                os.remove(partial)

    def stored_files(self, limit=None):
        """The files this node stored for you (an admin: everyone's), newest first."""
        return self._json('GET', '/v1/store', query={'limit': limit})['files']

    def store_stat(self, cid):
        """A stored file: size, code, holders (and which are alive), whether it is readable."""
        return self._json('GET', '/v1/store/' + _quote(cid))

    def store_rm(self, cid):
        """Removes a stored file: its holders drop their shards. Returns {cid, holders_told,
        holders_unreachable}."""
        return self._json('DELETE', '/v1/store/' + _quote(cid), auth=True,
                          extra_timeout=_STORE_WAIT_S)

    # --- node, mesh, ledger --------------------------------------------------------------------

    def node(self):
        """This node: DID, engine, workers, default limits and job statistics."""
        return self._json('GET', '/v1/node')

    def peers(self):
        """The peer table ({self, peers}). NotFound on a node run with --no-mesh."""
        return self._json('GET', '/v1/peers')

    def balance(self, did=None):
        """Credits ({did, available, held}) of ``did``, default the caller's own account (the
        token's user; for the data dir's api.token, the node's own DID)."""
        return self._json('GET', '/v1/ledger/balance' + ('/' + _quote(did) if did else ''))

    def ledger_history(self, did=None, limit=None, page_size=100):
        """Ledger entries, newest first (only those moving ``did``'s credits if given),
        following ``next_before`` until ``limit`` entries (default: all) were read."""
        out, before = [], None
        while limit is None or len(out) < limit:
            size = min(page_size, _PAGE, *(() if limit is None else (limit - len(out),)))
            page = self._json('GET', '/v1/ledger/history',
                              query={'did': did, 'limit': size, 'before': before})
            batch = page.get('entries')
            if not isinstance(batch, list):
                raise errors.BadResponse(200, 'bad_response',
                                         f'no entry list in {str(page)[:200]}')
            out.extend(batch)
            before = page.get('next_before')
            if before is None or not batch:
                break
        return out if limit is None else out[:limit]

    def verify_ledger(self):
        """Walks the whole ledger on the node; returns its report ({ok, entries, problem...})."""
        return self._json('GET', '/v1/ledger/verify')

    def reputation(self):
        """Every executor this node has a record of, with its score and counts."""
        return self._json('GET', '/v1/reputation')


def _quote(segment):
    return urllib.parse.quote(str(segment), safe=':')


def _event(fields):
    raw = fields.get('data', '')
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {'data': raw}
    if not isinstance(data, dict):
        data = {'data': data}
    data.setdefault('type', fields.get('event', 'message'))
    if 'id' in fields and 'seq' not in data:
        try:
            data['seq'] = int(fields['id'])
        except ValueError:
            pass
    return data
