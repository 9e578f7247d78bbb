// Stored files: the files this node keeps across the mesh for the signed-in user (an admin sees
// everyone's), each with its code, how many of its holders answer and whether it can be read;
// a file's holders shard by shard; storing a file (submit role), downloading and removing one.
import { errorText, facts, fill, fmtBytes, fmtTime, h, shortId, table, downloadBytes } from './dom.js';

const REFRESH_MS = 5000;

export function render(app, root) {
  const error = h('p', { class: 'error', role: 'alert', id: 'files-error' });
  const list = h('div', { id: 'files-list' }, 'Loading…');
  const detail = h('div', { class: 'card', id: 'file-detail', hidden: true });
  root.append(h('h1', {}, 'Stored files'),
    h('p', { class: 'muted' }, 'Compressed, encrypted and erasure-coded over k+m peers: any k give a file back. '
      + 'Files up to 64 KiB live in their manifest and need no peer.'),
    app.canSubmit ? storeForm(app, error, () => load()) : null, error, list, detail);

  const load = async () => {
    try {
      const files = await app.client.storedFiles();
      showFiles(app, list, detail, error, files, load);
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}

function storeForm(app, error, stored) {
  const file = h('input', { id: 'store-file', type: 'file', required: true });
  const code = h('input', { id: 'store-code', placeholder: 'node default (4+2)', pattern: '[0-9]+\\+[0-9]+', size: 10 });
  const encrypt = h('input', { id: 'store-encrypt', type: 'checkbox', checked: true });
  const status = h('span', { id: 'store-status', class: 'muted' });
  const form = h('form', { class: 'card', id: 'store-form' },
    h('label', { for: 'store-file' }, 'File '), file, ' ',
    h('label', { for: 'store-code' }, 'code K+M '), code, ' ',
    h('label', {}, encrypt, ' encrypted'), ' ',
    h('button', { type: 'submit', id: 'store-submit' }, 'Store'), ' ', status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    status.textContent = `storing ${chosen.name}…`;
    error.textContent = '';
    try {
      const put = await app.client.storePut(chosen, {
        name: chosen.name, code: code.value.trim() || undefined, encrypt: encrypt.checked,
      });
      status.textContent = `stored ${chosen.name} as ${shortId(put.cid, 20)}`;
      form.reset();
      stored();
    } catch (err) {
      status.textContent = '';
      error.textContent = errorText(err);
    }
  });
  return form;
}

function health(f) {
  if (f.code === 'inline') return 'in its manifest';
  return `${f.holders_alive}/${f.holders.length} holders alive`;
}

function showFiles(app, list, detail, error, files, reload) {
  if (files.length === 0) {
    fill(list, h('p', { class: 'card', id: 'files-none' }, 'No stored files yet.'));
    return;
  }
  fill(list, table(['name', 'handle', 'size', 'code', 'holders', 'readable', 'stored', ''],
    files.map((f) => [
      f.name || h('span', { class: 'muted' }, '(no name)'),
      h('a', { href: '#/files', class: 'show-file', 'data-cid': f.cid, onclick: (e) => { e.preventDefault(); showDetail(detail, f); } },
        h('code', { title: f.cid }, shortId(f.cid, 20))),
      fmtBytes(f.size),
      `${f.code}${f.encrypted ? ', encrypted' : ''}`,
      health(f),
      f.readable ? 'yes' : h('strong', { class: 'error' }, 'no'),
      fmtTime(f.created_at),
      h('span', {},
        h('button', { type: 'button', class: 'get-file', 'data-cid': f.cid, onclick: () => getFile(app, f, error) }, 'Download'),
        app.canSubmit ? ' ' : null,
        app.canSubmit ? h('button', { type: 'button', class: 'rm-file', 'data-cid': f.cid, onclick: () => removeFile(app, f, error, reload) }, 'Remove') : null),
    ]), { id: 'files-table' }));
}

function showDetail(card, f) {
  card.hidden = false;
  fill(card, h('h2', {}, f.name || shortId(f.cid, 24)),
    facts([
      ['handle', h('code', {}, f.cid)],
      ['size', f.code === 'inline' ? fmtBytes(f.size)
        : `${fmtBytes(f.size)} (${fmtBytes(f.stored_bytes)} on the holders, ${f.segments} segment(s))`],
      ['code', `${f.code}${f.encrypted ? ', encrypted' : ', not encrypted'}`],
      ['readable', f.code === 'inline' ? 'yes' : f.readable ? 'yes: at least k holders answer' : 'no: fewer than k holders answer'],
    ]),
    f.holders.length === 0 ? h('p', { class: 'muted' }, 'Kept whole in its manifest: no holder.')
      : table(['shard', 'holder', 'address', 'state'], f.holders.map((x) => [
        String(x.shard), h('code', { title: x.did }, shortId(x.did, 20)), x.address, x.alive ? 'alive' : 'silent',
      ]), { id: 'holders-table' }));
}

async function getFile(app, f, error) {
  try {
    downloadBytes(await app.client.storeGet(f.cid), f.name || `${f.cid}.bin`);
  } catch (e) {
    error.textContent = errorText(e);
  }
}

async function removeFile(app, f, error, reload) {
  try {
    const removed = await app.client.storeRemove(f.cid);
    error.textContent = removed.holders_unreachable.length
      ? `removed; not released by: ${removed.holders_unreachable.join('; ')}` : '';
    reload();
  } catch (e) {
    error.textContent = errorText(e);
  }
}
