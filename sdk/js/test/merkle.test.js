// verifyChunkProof against trees built here independently (RFC 6962's recursive definition,
// node:crypto's SHA-256), for every leaf of trees of 1 to 13 leaves; and every kind of
// tampering with a proof, an output, a root and a tree size.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { cidDigest, cidOf, verifyChunkProof } from '../merkle.js';

const sha = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leaf = (data) => sha(Buffer.of(0), data);
const node = (l, r) => sha(Buffer.of(1), l, r);

// RFC 6962 section 2.1: MTH and PATH, split at the largest power of two below n.
function split(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function mth(leaves) {
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return node(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}
function path(m, leaves) {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))]
    : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}
function cidText(digest) {
  // The CIDv1 text of a raw blob with this digest (as the node names outputs).
  const raw = Buffer.concat([Buffer.of(1, 0x55, 0x12, 0x20), digest]);
  return `b${base32(raw)}`;
}
function base32(bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function makeJob(n) {
  const outputs = Array.from({ length: n }, (_, i) => Buffer.from(`chunk ${i} output\n`));
  const leaves = outputs.map((o) => leaf(sha(o)));
  const root = mth(leaves).toString('hex');
  const answers = outputs.map((o, i) => ({
    index: i,
    output_cid: cidText(sha(o)),
    merkle_root: root,
    proof: { index: i, tree_size: n, path: path(i, leaves).map((h) => h.toString('hex')) },
  }));
  return { outputs, root, answers };
}

test('cidOf is the CIDv1 of the bytes, and cidDigest reads its digest back', async () => {
  const data = Buffer.from('hello, mesh\n');
  assert.equal(await cidOf(data), cidText(sha(data)));
  assert.deepEqual(Buffer.from(cidDigest(await cidOf(data))), sha(data));
  assert.throws(() => cidDigest('Qmnotacid'), /not a base32 CIDv1/);
});

test('every leaf of trees of 1..13 leaves verifies, from the bytes and from the CID', async () => {
  for (let n = 1; n <= 13; n++) {
    const { outputs, root, answers } = makeJob(n);
    for (let i = 0; i < n; i++) {
      const fromBytes = await verifyChunkProof(answers[i], { output: outputs[i], root, treeSize: n });
      assert.ok(fromBytes.ok, `leaf ${i} of ${n}: ${fromBytes.reason}`);
      assert.equal(fromBytes.root, root);
      const fromCid = await verifyChunkProof(answers[i]);
      assert.ok(fromCid.ok, `leaf ${i} of ${n} from its CID: ${fromCid.reason}`);
    }
  }
});

test('one altered byte anywhere in a path fails the check', async () => {
  const { outputs, root, answers } = makeJob(7);
  for (let i = 0; i < 7; i++) {
    for (let h = 0; h < answers[i].proof.path.length; h++) {
      const bad = structuredClone(answers[i]);
      const hex = bad.proof.path[h];
      bad.proof.path[h] = (hex[0] === '0' ? '1' : '0') + hex.slice(1);
      const result = await verifyChunkProof(bad, { output: outputs[i], root, treeSize: 7 });
      assert.equal(result.ok, false, `leaf ${i} path[${h}]`);
      assert.match(result.reason, /leads to root/);
    }
  }
});

test('an altered output, a foreign root, a wrong index or tree size, a short or long path fail', async () => {
  const { outputs, root, answers } = makeJob(5);
  const a = answers[2];
  const altered = Buffer.from(outputs[2]);
  altered[0] ^= 1;
  assert.match((await verifyChunkProof(a, { output: altered, root })).reason, /do not hash to output_cid/);
  // The same altered bytes with a CID that matches them: the leaf is not in the tree.
  const forged = { ...a, output_cid: cidText(sha(altered)) };
  assert.match((await verifyChunkProof(forged, { output: altered, root })).reason, /leads to root/);
  assert.equal((await verifyChunkProof(a, { output: outputs[2], root: 'ab'.repeat(32) })).ok, false);
  assert.equal((await verifyChunkProof({ ...a, proof: { ...a.proof, index: 3 } }, { output: outputs[2] })).ok, false);
  assert.match((await verifyChunkProof(a, { output: outputs[2], treeSize: 6 })).reason, /tree of 5 leaves; the job has 6/);
  const short = { ...a, proof: { ...a.proof, path: a.proof.path.slice(1) } };
  assert.match((await verifyChunkProof(short, { output: outputs[2] })).reason, /fewer hashes/);
  const long = { ...a, proof: { ...a.proof, path: [...a.proof.path, 'cd'.repeat(32)] } };
  assert.equal((await verifyChunkProof(long, { output: outputs[2] })).ok, false);
  const notHex = { ...a, proof: { ...a.proof, path: ['zz'.repeat(32), ...a.proof.path.slice(1)] } };
  assert.match((await verifyChunkProof(notHex, { output: outputs[2] })).reason, /proof.path\[0\]: expected 64 hex digits/);
});
