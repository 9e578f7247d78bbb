// The JS client against a real meshd (test/meshd.js starts it): every method, the event
// stream read through fetch, a split job whose chunk proofs are checked here from the chunk
// outputs' bytes, error answers as MeshError, and the dashboard's files as the node serves them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Client, MeshError, cidOf, verifyChunkProof } from '../mesh.js';
import { example, startMeshd } from './meshd.js';

const here = dirname(fileURLToPath(import.meta.url));
const text = (bytes) => new TextDecoder().decode(bytes);
let meshd;
let client;

before(async () => {
  meshd = await startMeshd();
  client = new Client({ url: meshd.url, token: meshd.token });
});
after(async () => meshd?.stop());

test('upload stores bytes under their CID and getBlob returns them', async () => {
  const data = new Uint8Array(40_000).map((_, i) => (i * 7) & 0xff);
  const cid = await client.upload(data);
  assert.equal(cid, await cidOf(data));
  assert.deepEqual(await client.getBlob(cid), data);
});

test('a job submitted with bytes runs, and wait, job, jobs, output, history and explain show it', async () => {
  const submitted = await client.submit({
    module: example('echo'), inputs: [new TextEncoder().encode('hello, js\n')], labels: { suite: 'js' },
  });
  assert.ok(['queued', 'running', 'succeeded'].includes(submitted.state));
  const done = await client.wait(submitted.id, { timeoutMs: 60_000 });
  assert.equal(done.state, 'succeeded');
  assert.equal(done.id, submitted.id);
  assert.equal((await client.job(submitted.id)).output_cid, done.output_cid);
  assert.equal(text(await client.output(submitted.id)), 'hello, js\n');
  const listed = await client.jobs({ state: 'succeeded' });
  assert.ok(listed.some((j) => j.id === submitted.id && j.labels.suite === 'js'));
  const history = await client.history(submitted.id);
  assert.equal(history.blocks[0].phase, 'submitted');
  assert.equal(history.head, history.blocks.at(-1).cid);
  for (let i = 1; i < history.blocks.length; i++) assert.equal(history.blocks[i].prev, history.blocks[i - 1].cid);
  const explain = await client.explain(submitted.id);
  assert.equal(explain.placement, 'local');
  assert.deepEqual(await client.partials(submitted.id), []);
});

test('events() streams live events through fetch, and replays a job from queued to succeeded', async () => {
  const echo = example('echo');
  const submitted = new Set();
  const live = (async () => {
    for await (const e of client.events()) {
      if (e.type === 'job.succeeded' && submitted.has(e.job_id)) return e;  // closes the stream
    }
    throw new Error('the event stream ended');
  })();
  // The stream sees what happens after the node took the request, which the client cannot
  // observe: submit until one of these jobs' ends comes through it.
  let seen;
  for (let i = 0; !seen; i++) {
    assert.ok(i < 100, 'no job.succeeded came through the stream');
    submitted.add((await client.submit({ module: echo, inputs: [new TextEncoder().encode(`ev ${i}`)] })).id);
    seen = await Promise.race([live, new Promise((r) => setTimeout(r, 300))]);
  }
  assert.equal(seen.output_cid, (await client.job(seen.job_id)).output_cid);
  assert.ok(Number.isInteger(seen.seq));
  const replay = [];
  for await (const e of client.events({ after: 0, job: seen.job_id })) {
    replay.push(e);
    if (e.type === 'job.succeeded') break;
  }
  assert.equal(replay[0].type, 'job.queued');
  assert.ok(replay.some((e) => e.type === 'job.running'));
  assert.ok(replay.every((e) => e.job_id === seen.job_id));
  for (let i = 1; i < replay.length; i++) assert.ok(replay[i].seq > replay[i - 1].seq);
});

test('cancel stops a running job', async () => {
  const job = await client.submit({ module: example('loop'), limits: { fuel: 1e15, wall_time_ms: 600_000 } });
  for (let i = 0; i < 600 && (await client.job(job.id)).state !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await client.cancel(job.id);
  assert.equal((await client.wait(job.id, { timeoutMs: 30_000 })).state, 'cancelled');
  await assert.rejects(client.cancel(job.id), (e) => e instanceof MeshError && e.status === 409);
});

test('a split job: chunks, and every chunk proof checks from the chunk output bytes', async () => {
  const input = new TextEncoder().encode('alpha\nbeta\ngamma\ndelta\nepsilon\n');
  const job = await client.submit({
    module: example('echo'), inputs: [input], split: { splitter: { kind: 'lines', parts: 3 } },
  });
  assert.equal((await client.wait(job.id, { timeoutMs: 60_000 })).state, 'succeeded');
  assert.deepEqual(await client.output(job.id), input);
  const chunks = await client.chunks(job.id);
  assert.equal(chunks.total, 3);
  assert.match(chunks.merkle_root, /^[0-9a-f]{64}$/);
  for (const chunk of chunks.chunks) {
    const answer = await client.chunkProof(job.id, chunk.index);
    const output = await client.getBlob(chunk.output_cid);
    // Through the job (how a user who is not an admin reads its own job's chunks): the same.
    assert.deepEqual(await client.getBlob(chunk.output_cid, job.id), output);
    const good = await verifyChunkProof(answer, { output, root: chunks.merkle_root, treeSize: chunks.total });
    assert.ok(good.ok, good.reason);
    const tampered = structuredClone(answer);
    const h = tampered.proof.path[0];
    tampered.proof.path[0] = (h[0] === 'f' ? 'e' : 'f') + h.slice(1);
    assert.equal((await verifyChunkProof(tampered, { output, root: chunks.merkle_root })).ok, false);
  }
});

test('node, profile, ledger and reputation answer; peers is 404 without the mesh', async () => {
  const node = await client.node();
  assert.match(node.did, /^did:key:z/);
  assert.equal(typeof node.stats.queued, 'number');
  const profile = await client.nodeProfile();
  assert.equal(typeof profile.ready, 'boolean');
  const balance = await client.balance();
  assert.equal(balance.did, node.did);
  assert.ok(Array.isArray(await client.ledgerHistory({ limit: 10 })));
  assert.equal((await client.verifyLedger()).ok, true);
  assert.ok(Array.isArray(await client.reputation()));
  await assert.rejects(client.peers(), (e) => e instanceof MeshError && e.status === 404 && e.code === 'not_found');
});

test('a small stored file round-trips, lists and is removed; a large one needs peers', async () => {
  const text = 'kept in its manifest\n';
  const stored = await client.storePut(text, { name: 'small.txt' });
  assert.equal(stored.code, 'inline');
  assert.equal(stored.size, text.length);
  assert.equal(new TextDecoder().decode(await client.storeGet(stored.cid)), text);
  assert.ok((await client.storedFiles()).some((f) => f.cid === stored.cid && f.name === 'small.txt'));
  assert.equal((await client.storeStat(stored.cid)).readable, true);
  assert.equal((await client.storeRemove(stored.cid)).cid, stored.cid);
  await assert.rejects(client.storeStat(stored.cid), (e) => e instanceof MeshError && e.status === 404);
  // 100 KB is more than a manifest keeps, and this node runs without the mesh.
  await assert.rejects(client.storePut(new Uint8Array(100_000), { code: '2+1' }),
    (e) => e instanceof MeshError && e.status === 409 && /needs the mesh/.test(e.message));
  await assert.rejects(client.storePut('x', { code: 'two' }),
    (e) => e instanceof MeshError && e.status === 400 && /K\+M/.test(e.message));
});

test('errors: a bad token is 401, an unknown job 404, both as MeshError with the API code', async () => {
  const stranger = new Client({ url: meshd.url, token: 'not-the-token' });
  await assert.rejects(stranger.jobs(), (e) => e instanceof MeshError && e.status === 401 && e.code === 'unauthenticated');
  await assert.rejects(client.job('bnotajob'), (e) => e instanceof MeshError && e.status === 404);
  const nobody = new Client({ url: 'http://127.0.0.1:1' });
  await assert.rejects(nobody.node(), (e) => e instanceof MeshError && e.status === 0 && e.code === 'unavailable');
});

test('me() names the caller once accounts exist, and is 404 on a node without them', async () => {
  try {
    const me = await client.me();
    assert.equal(me.role, 'admin');
    assert.match(me.did, /^did:key:z/);
  } catch (e) {
    assert.ok(e instanceof MeshError && e.status === 404, String(e));
  }
});

test('the dashboard is served from the binary with no token, a strict CSP and an ETag', async () => {
  const page = await fetch(`${meshd.url}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /default-src 'none'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.match(await page.text(), /<script type="module" src="\/ui\/app.js"><\/script>/);
  // The SDK the page runs is this very file, embedded at build time.
  const sdk = await fetch(`${meshd.url}/ui/mesh.js`);
  assert.equal(sdk.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(await sdk.text(), readFileSync(join(here, '..', 'mesh.js'), 'utf8'));
  const etag = sdk.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{64}"$/);
  const again = await fetch(`${meshd.url}/ui/mesh.js`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const chart = await fetch(`${meshd.url}/ui/chart.min.js`);
  assert.equal(chart.status, 200);
  assert.match((await chart.text()).slice(0, 200), /Chart\.js v3/);
  const missing = await fetch(`${meshd.url}/ui/nothing.js`);
  assert.equal(missing.status, 404);
  assert.equal((await fetch(`${meshd.url}/ui/a/b.js`)).status, 404);
  // What the page fetches still needs the token.
  assert.equal((await fetch(`${meshd.url}/v1/jobs`)).status, 401);
});

test('a job with a mounted file and an output directory: outputFiles and outputFile check every byte here', async () => {
  const submitted = await client.submit({
    module: example('dir_sum'), mounts: { '/data/in.txt': new TextEncoder().encode('abc') },
    output_dir: '/out',
  });
  assert.deepEqual(submitted.spec.mounts.map((m) => m.path), ['/data/in.txt']);
  const done = await client.wait(submitted.id, { timeoutMs: 60_000 });
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  assert.ok(done.files_cid);
  const files = await client.outputFiles(submitted.id);
  assert.deepEqual(await client.outputFiles(done), files, 'the job itself does as well as its id');
  assert.deepEqual(files.map((f) => [f.path, f.kind]), [['summary.txt', 'file']]);
  assert.equal(text(await client.outputFile(submitted.id, files[0])), 'in.txt 3 294\ntotal: 1 files, 3 bytes, sum 294\n');
  await assert.rejects(client.outputFile(submitted.id, { path: 'x', kind: 'directory' }), MeshError);
  // A node (or a proxy) that alters the bytes is caught by the CID check, not believed.
  const lying = new Client({
    url: meshd.url, token: meshd.token,
    fetch: async (url, init) => {
      const answer = await fetch(url, init);
      if (!String(url).includes(`/v1/blobs/${files[0].cid}`)) return answer;
      const bytes = new Uint8Array(await answer.arrayBuffer());
      bytes[0] ^= 1;
      return new Response(bytes, { status: answer.status, headers: answer.headers });
    },
  });
  await assert.rejects(lying.outputFile(submitted.id, files[0]), (e) => e instanceof MeshError && /do not match/.test(e.message));
  // A job without an output directory has no files.
  const plain = await client.wait((await client.submit({ module: example('echo'), inputs: ['x'] })).id, { timeoutMs: 60_000 });
  assert.deepEqual(await client.outputFiles(plain.id), []);
});
