// Checking a split job's chunk proofs without trusting the node that sent them.
//
// The tree is RFC 6962's (src/verify/merkle_tree.h): a leaf hashes as SHA-256(0x00 || data), an
// interior node as SHA-256(0x01 || left || right), and the last node of an odd level is promoted
// unchanged. A chunk output's leaf data is the 32-byte SHA-256 digest of the output's bytes (the
// digest its CID carries), so the leaf can be recomputed from the bytes alone.
//
// SHA-256 is WebCrypto's (globalThis.crypto.subtle; on Node 18, where it is not a global,
// node:crypto's webcrypto). Browsers offer it only in secure contexts: http://127.0.0.1 and
// http://localhost are, a plain-http LAN address is not.

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

let subtlePromise = null;

async function subtle() {
  if (globalThis.crypto?.subtle) return globalThis.crypto.subtle;
  subtlePromise ??= import('node:crypto').then(
    (m) => m.webcrypto.subtle,
    () => {
      throw new Error(
        'WebCrypto is unavailable: open the dashboard over http://127.0.0.1 or ' +
          'http://localhost (or https), where browsers provide crypto.subtle');
    });
  return subtlePromise;
}

/** SHA-256 of `bytes` (Uint8Array or ArrayBuffer), as a Uint8Array. */
export async function sha256(bytes) {
  return new Uint8Array(await (await subtle()).digest('SHA-256', bytes));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lower-case hex of bytes. */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Bytes of exactly `length` bytes of hex (either case); throws naming `what` otherwise. */
export function fromHex(text, what = 'hex', length = 32) {
  if (typeof text !== 'string' || text.length !== 2 * length || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new Error(`${what}: expected ${2 * length} hex digits, got ${JSON.stringify(text)}`);
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

/** The SHA-256 digest inside a base32 CIDv1 ("b" + lower-case base32, no padding). */
export function cidDigest(cid) {
  if (typeof cid !== 'string' || !cid.startsWith('b')) {
    throw new Error(`not a base32 CIDv1: ${JSON.stringify(cid)}`);
  }
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of cid.slice(1)) {
    const i = BASE32.indexOf(ch);
    if (i < 0) throw new Error(`not a base32 CIDv1: ${JSON.stringify(cid)}`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  // Version 1, a codec (raw 0x55 is one byte, dag-json 0x0129 two), sha2-256 (0x12, 32 bytes).
  const n = out.length;
  if (n < 36 || out[0] !== 1 || out[n - 34] !== 0x12 || out[n - 33] !== 0x20) {
    throw new Error(`not a CIDv1 with a SHA-256 digest: ${JSON.stringify(cid)}`);
  }
  return Uint8Array.from(out.slice(n - 32));
}

/** The CIDv1 (raw codec, sha2-256, base32) of `bytes`. */
export async function cidOf(bytes) {
  const raw = concat(Uint8Array.of(0x01, 0x55, 0x12, 0x20), await sha256(bytes));
  let text = 'b';
  let bits = 0;
  let value = 0;
  for (const byte of raw) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += BASE32[(value >> bits) & 31];
    }
  }
  if (bits > 0) text += BASE32[(value << (5 - bits)) & 31];
  return text;
}

/** SHA-256(0x00 || data). */
export async function leafHash(data) {
  return sha256(concat(Uint8Array.of(0x00), data));
}

/** SHA-256(0x01 || left || right). */
export async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  throw new TypeError('chunk output must be a Uint8Array, an ArrayBuffer or a string');
}

/**
 * Checks a chunk's inclusion proof (GET /v1/jobs/{id}/chunks/{index}/proof, as
 * Client.chunkProof returns it) by recomputing everything here.
 *
 * options.output: the chunk output's bytes. The leaf is computed from them (and they must match
 *   the answer's output_cid); without them the leaf comes from output_cid's digest.
 * options.root: the root (hex) you trust, e.g. the split job's merkle_root read beside its
 *   result; default the answer's own merkle_root.
 * options.treeSize: the chunk count you trust (the split job's chunk list); an RFC 6962 root
 *   does not commit to its size, so a proof's own tree_size must be checked against it.
 *
 * Resolves to {ok, reason, root}: `root` is the hex root the proof leads to (null when the
 * proof is malformed), `reason` says why a check failed. Never throws for a bad proof.
 */
export async function verifyChunkProof(answer, options = {}) {
  try {
    const proof = answer?.proof;
    if (!proof || !Array.isArray(proof.path)) throw new Error('the answer has no proof.path');
    const { index, tree_size: size } = proof;
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
      throw new Error(`proof index ${index} is not below tree_size ${size}`);
    }
    if (options.treeSize !== undefined && options.treeSize !== size) {
      return fail(`the proof is for a tree of ${size} leaves; the job has ${options.treeSize}`);
    }
    const expected = fromHex(options.root ?? answer.merkle_root, 'merkle_root');
    const path = proof.path.map((h, i) => fromHex(h, `proof.path[${i}]`));
    let digest;
    if (options.output !== undefined) {
      digest = await sha256(asBytes(options.output));
      if (answer.output_cid !== undefined && toHex(digest) !== toHex(cidDigest(answer.output_cid))) {
        return fail(`the output bytes do not hash to output_cid ${answer.output_cid}`);
      }
    } else {
      digest = cidDigest(answer.output_cid);
    }
    // RFC 9162 section 2.1.3.2: fn is the node's index on its level, sn the level's last index.
    let node = await leafHash(digest);
    let fn = index;
    let sn = size - 1;
    for (const sibling of path) {
      if (sn === 0) return fail('the proof has more hashes than its position needs', node);
      if (fn % 2 === 1 || fn === sn) {
        node = await nodeHash(sibling, node);
        while (fn % 2 === 0 && fn !== 0) {  // levels where this node was promoted unchanged
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        node = await nodeHash(node, sibling);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) return fail('the proof has fewer hashes than its position needs', node);
    if (toHex(node) !== toHex(expected)) {
      return fail(`the proof leads to root ${toHex(node)}, not ${toHex(expected)}`, node);
    }
    return { ok: true, reason: 'the chunk output is in the tree under this root', root: toHex(node) };
  } catch (e) {
    return fail(e.message);
  }
}

function fail(reason, node = null) {
  return { ok: false, reason, root: node ? toHex(node) : null };
}
