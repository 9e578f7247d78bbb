// The HTTP client of one Mesh node (meshd): an ES module with no dependencies, for browsers
// and Node 18 or later (global fetch). Its methods mirror the Python SDK's
// (sdk/python/mesh_sdk/client.py); every error answer becomes a MeshError carrying the API's
// {code, message}, so a call either returns what the API documents or throws.
//
// Sign-in is a bearer token sent as "Authorization: Bearer <token>" on every request; the
// client stores nothing (the dashboard keeps the token in sessionStorage, never in a cookie).
// The event stream is read with fetch() and a ReadableStream, because EventSource cannot send
// the Authorization header.

import { cidDigest, sha256, toHex } from './merkle.js';

export { cidOf, verifyChunkProof } from './merkle.js';

const MAX_WAIT_MS = 600_000; // the API's long poll waits at most 10 minutes per request
const PAGE = 1000; // the API's largest page

/** An error answer of the API (or no answer: status 0, code "unavailable"). */
export class MeshError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'MeshError';
    this.status = status;
    this.code = code;
  }
}

function isBlobRef(value) {
  return typeof value === 'string' && /^b[a-z2-7]{20,}$/.test(value);
}

export class Client {
  /**
   * url: the node, e.g. "http://127.0.0.1:7420"; "" (the default) means the page's own origin.
   * token: the API token (<data dir>/api.token, or a user's token).
   * fetch: a fetch implementation (default globalThis.fetch).
   */
  constructor({ url = '', token = null, fetch = globalThis.fetch } = {}) {
    if (typeof fetch !== 'function') {
      throw new Error('no fetch(): use Node 18 or later, or pass {fetch}');
    }
    this.url = url.replace(/\/+$/, '');
    this.token = token;
    this.fetchImpl = (...args) => fetch(...args);  // a bare call: window.fetch needs no `this`
  }

  // --- transport ------------------------------------------------------------------------------

  target(path, query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    }
    const q = params.toString();
    return this.url + path + (q ? `?${q}` : '');
  }

  /** Sends one request; resolves to the Response for a 2xx (or 304), throws MeshError else. */
  async request(method, path, { query, body, headers = {}, signal } = {}) {
    const all = { ...headers };
    if (this.token) all.Authorization = `Bearer ${this.token}`;
    const target = this.target(path, query);
    let response;
    try {
      response = await this.fetchImpl(target, { method, headers: all, body, signal });
    } catch (e) {
      if (e?.name === 'AbortError') throw e;
      throw new MeshError(0, 'unavailable', `cannot reach the node (${method} ${target}): ${e.message}`);
    }
    if (!response.ok) {
      const text = await response.text();
      let code = 'unknown';
      let message = text.slice(0, 500) || response.statusText;
      try {
        const parsed = JSON.parse(text);
        code = parsed.code ?? code;
        message = parsed.message ?? message;
      } catch {
        // not the API's JSON (a proxy's page?): keep the text
      }
      throw new MeshError(response.status, code, `${method} ${path}: ${message}`);
    }
    return response;
  }

  async json(method, path, options = {}) {
    const opts = { ...options };
    if (opts.payload !== undefined) {
      opts.body = JSON.stringify(opts.payload);
      opts.headers = { ...(opts.headers ?? {}), 'Content-Type': 'application/json' };
    }
    const response = await this.request(method, path, opts);
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new MeshError(response.status, 'bad_response', `${method} ${path}: expected JSON, got ${text.slice(0, 200)}`);
    }
  }

  async bytes(path, query = undefined) {
    const response = await this.request('GET', path, { query });
    return new Uint8Array(await response.arrayBuffer());
  }

  // --- blobs ----------------------------------------------------------------------------------

  /** Stores bytes (Uint8Array, ArrayBuffer, Blob/File or string) on the node; resolves to its CID. */
  async upload(data) {
    const body = await this.json('POST', '/v1/blobs', {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (typeof body.cid !== 'string') throw new MeshError(201, 'bad_response', 'upload: no CID in the answer');
    return body.cid;
  }

  /**
   * The bytes of blob `cid` (the node checks them against the CID before sending). `job`: a job
   * of yours that names the blob (its module, an input, its output, a partial, a checkpoint, a
   * chunk's); how a user who is not an admin reads its own jobs' data.
   */
  getBlob(cid, job = undefined) {
    return this.bytes(`/v1/blobs/${encodeURIComponent(cid)}`, { job });
  }

  /** A CID for `what`: a CID string as is; bytes, a Blob or other strings are uploaded first. */
  async blobRef(what) {
    return isBlobRef(what) ? what : this.upload(what);
  }

  // --- jobs -----------------------------------------------------------------------------------

  /**
   * Submits a job; resolves to it (usually queued: call wait()). `module` and each of `inputs`
   * may be a CID or bytes/Blob (uploaded first). Other fields are the JobSpec's (args, env,
   * limits, placement, verification, requirements, priority, labels, deterministic, split);
   * split.splitter.module, split.merge.module and split.chunk_module may be bytes too.
   * idempotencyKey: the same key returns the first job, so retrying is safe.
   */
  async submit({ module, inputs = [], idempotencyKey, split, mounts, ...rest }) {
    const spec = { ...rest, module: await this.blobRef(module), inputs: [] };
    for (const input of inputs) spec.inputs.push(await this.blobRef(input));
    if (mounts) spec.mounts = await this.mountsOf(mounts);
    if (spec.args) spec.args = spec.args.map(String);
    if (split) {
      const s = { ...split, splitter: { ...split.splitter } };
      if (s.splitter.module) s.splitter.module = await this.blobRef(s.splitter.module);
      if (split.merge) {
        s.merge = { ...split.merge };
        if (s.merge.module) s.merge.module = await this.blobRef(s.merge.module);
      }
      if (split.chunk_module) s.chunk_module = await this.blobRef(split.chunk_module);
      spec.split = s;
    }
    const headers = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
    return this.json('POST', '/v1/jobs', { payload: spec, headers });
  }

  /**
   * A spec's mounts from [{path, source, writable}] or {path: source}: a source that is a CID
   * (a file's raw CID, or a directory manifest's) is kept; bytes or a Blob are uploaded and
   * mounted as one read-only file at `path`.
   */
  async mountsOf(mounts) {
    const list = Array.isArray(mounts)
      ? mounts
      : Object.entries(mounts).map(([path, source]) => ({ path, source }));
    const out = [];
    for (const { path, source, cid, writable } of list) {
      const mount = { cid: await this.blobRef(cid ?? source), path };
      if (writable) mount.writable = true;
      out.push(mount);
    }
    return out;
  }

  /**
   * The files a job left in its output directory (spec.output_dir), as
   * [{path, kind: 'file' | 'directory' | 'symlink', cid, size, target}] in path order: the
   * tree's manifest, read from the node and checked here against the job's files_cid (SHA-256 in
   * this process, trusting nothing the node says). [] when the job has no output tree.
   * `job`: its id, or the job as job() returned it (its files_cid is then not asked again).
   */
  async outputFiles(job) {
    const { id, files_cid: filesCid } = typeof job === 'string' ? await this.job(job) : job;
    if (!filesCid) return [];
    const bytes = await this.checkedBlob(filesCid, id);
    let manifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new MeshError(200, 'bad_response', `the output tree of ${id} is not JSON: ${e.message}`);
    }
    if (manifest?.type !== 'mesh/dir' || !Array.isArray(manifest.entries)) {
      throw new MeshError(200, 'bad_response', `the output tree of ${id} is not a directory manifest`);
    }
    return manifest.entries.map((e) => ({
      path: e.path, kind: e.kind, cid: e.cid?.['/'], size: e.size, target: e.target,
    }));
  }

  /** The bytes of one file of outputFiles(id), checked here against its CID. */
  outputFile(id, entry) {
    if (entry?.kind !== 'file' || !entry.cid) {
      return Promise.reject(new MeshError(400, 'invalid_argument', `${entry?.path ?? 'that entry'} is not a file`));
    }
    return this.checkedBlob(entry.cid, id);
  }

  /** getBlob, then SHA-256 of the bytes here against the digest the CID carries. */
  async checkedBlob(cid, job) {
    const bytes = await this.getBlob(cid, job);
    if (toHex(await sha256(bytes)) !== toHex(cidDigest(cid))) {
      throw new MeshError(200, 'bad_response', `the bytes the node sent for ${cid} do not match that CID`);
    }
    return bytes;
  }

  /** The job's state and, once it ended, its run report. */
  job(id) {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  /**
   * Jobs on this node, newest first, following the paging cursor until `limit` jobs (default
   * 100) were read. `state` keeps only jobs in that state, `label` those with that label ('key'
   * or 'key=value'), `submitter` those that DID submitted: the node filters, over all its jobs.
   */
  jobs({ state, label, submitter, limit = 100 } = {}) {
    return this.paged('/v1/jobs', 'jobs', { state, label, submitter }, limit);
  }

  /**
   * Up to `limit` items of a paged list route (`key`: the array in each page), following its
   * next_before cursor.
   */
  async paged(path, key, query, limit) {
    const out = [];
    let before;
    while (out.length < limit) {
      const page = await this.json('GET', path, {
        query: { ...query, limit: Math.min(PAGE, limit - out.length), before },
      });
      out.push(...page[key]);
      before = page.next_before;
      if (before === undefined || page[key].length === 0) break;
    }
    return out;
  }

  /** Waits (long poll) until the job ends; resolves to it. Rejects after timeoutMs, if given. */
  async wait(id, { timeoutMs } = {}) {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const wait = Math.max(1, Math.min(deadline - Date.now(), MAX_WAIT_MS));
      const job = await this.json('GET', `/v1/jobs/${encodeURIComponent(id)}`, { query: { wait: `${wait}ms` } });
      if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
      if (Date.now() >= deadline) {
        throw new MeshError(0, 'deadline_exceeded', `job ${id} is still ${job.state} after ${timeoutMs} ms`);
      }
    }
  }

  /** The job's output (stdout) once it has ended, as a Uint8Array. */
  output(id) {
    return this.bytes(`/v1/jobs/${encodeURIComponent(id)}/output`);
  }

  /** Cancels a queued or running job; resolves to it. */
  cancel(id) {
    return this.json('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  /** The job's hash-linked history: {job, head, blocks: [{cid, prev, phase, at, detail}]}. */
  history(id) {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}/history`);
  }

  /** Why the job runs where it runs: placement, auction rounds with bids, scores and reasons. */
  explain(id) {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}/explain`);
  }

  /** A split job's chunks: {stage, total, done, chunks: [...], merkle_root (once merged)}. */
  chunks(id) {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}/chunks`);
  }

  /** Chunk `index`'s inclusion proof; check it with verifyChunkProof. */
  chunkProof(id, index) {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}/chunks/${Number(index)}/proof`);
  }

  /** The partial outputs the job made so far: [{index, cid, bytes, fuel, at}]. */
  async partials(id) {
    return (await this.json('GET', `/v1/jobs/${encodeURIComponent(id)}/partials`)).partials;
  }

  /** The job's checkpoints: [{index, cid, bytes, fuel, at, signed}]. */
  async checkpoints(id) {
    return (await this.json('GET', `/v1/jobs/${encodeURIComponent(id)}/checkpoints`)).checkpoints;
  }

  // --- events ---------------------------------------------------------------------------------

  /**
   * The node's server-sent events, as an async iterator of objects (the event's JSON data with
   * `type` and `seq`; a `gap` event says some were dropped). after: replay retained events after
   * that seq (0: all retained); job: one job's events only; signal: an AbortSignal that ends
   * the stream. Breaking out of a for-await loop closes it too.
   */
  async *events({ after, job, signal } = {}) {
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await this.request('GET', '/v1/events', {
        query: { after, job },
        headers: { Accept: 'text/event-stream' },
        signal: abort.signal,
      });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let fields = {};
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          let line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if ('data' in fields || 'event' in fields) yield toEvent(fields);
            fields = {};
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const name = colon < 0 ? line : line.slice(0, colon);
            let text = colon < 0 ? '' : line.slice(colon + 1);
            if (text.startsWith(' ')) text = text.slice(1);
            fields[name] = name === 'data' && 'data' in fields ? `${fields.data}\n${text}` : text;
          }
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      abort.abort();
    }
  }

  // --- node, mesh, ledger, accounts -----------------------------------------------------------

  // --- files stored across the mesh ------------------------------------------------------------

  /**
   * Stores `data` (Uint8Array, ArrayBuffer, Blob/File or string) across the mesh: compressed,
   * encrypted unless `encrypt` is false, erasure-coded into k+m shards on k+m peers (`code`
   * 'K+M', default the node's). Resolves to the stored file ({cid, size, code, holders, ...});
   * its `cid` is the handle. 409 when too few peers can hold shards (the message says why).
   */
  storePut(data, { name, code, encrypt } = {}) {
    return this.json('POST', '/v1/store', {
      query: { name, code, encrypt: encrypt === false ? 'false' : undefined },
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
  }

  /** The files this node stored for the caller (an admin: everyone's), newest first. */
  async storedFiles({ limit } = {}) {
    return (await this.json('GET', '/v1/store', { query: { limit } })).files;
  }

  /** A stored file: size, code, holders and which are alive, whether it is readable. */
  storeStat(cid) {
    return this.json('GET', `/v1/store/${encodeURIComponent(cid)}`);
  }

  /** A stored file's bytes (the node fetches any k shards per segment and checks each). */
  storeGet(cid) {
    return this.bytes(`/v1/store/${encodeURIComponent(cid)}/content`);
  }

  /** Removes a stored file: its holders drop their shards ({cid, holders_told, ...}). */
  storeRemove(cid) {
    return this.json('DELETE', `/v1/store/${encodeURIComponent(cid)}`);
  }

  /** This node: DID, version, engine, workers, default limits, job statistics, mesh. */
  node() {
    return this.json('GET', '/v1/node');
  }

  /** The node's hardware profile and speed score. */
  nodeProfile() {
    return this.json('GET', '/v1/node/profile');
  }

  /** The peer table ({self, active, known, peers}); 404 on a node run with --no-mesh. */
  peers() {
    return this.json('GET', '/v1/peers');
  }

  /** Credits ({did, available, held, ...}) of `did`, default the caller's own account. */
  balance(did) {
    return this.json('GET', `/v1/ledger/balance${did ? `/${encodeURIComponent(did)}` : ''}`);
  }

  /** Ledger entries, newest first (only those moving `did`'s credits, if given). */
  ledgerHistory({ did, limit = 100 } = {}) {
    return this.paged('/v1/ledger/history', 'entries', { did }, limit);
  }

  /** Walks the whole ledger on the node: {ok, entries, problem...}. */
  verifyLedger() {
    return this.json('GET', '/v1/ledger/verify');
  }

  /** Every executor this node has a record of, with its score and counts. */
  async reputation() {
    return (await this.json('GET', '/v1/reputation')).executors;
  }

  /** Who the token belongs to: {user, role, did, expires_at_ms}. */
  me() {
    return this.json('GET', '/v1/me');
  }
}

function toEvent(fields) {
  let data = {};
  if (fields.data) {
    try {
      data = JSON.parse(fields.data);
    } catch {
      data = { data: fields.data };
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) data = { data };
  data.type ??= fields.event ?? 'message';
  if (fields.id !== undefined && data.seq === undefined && /^\d+$/.test(fields.id)) data.seq = Number(fields.id);
  return data;
}
