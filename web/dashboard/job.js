// Job detail: the spec, limits and report; the hash-linked history as a timeline; --explain as
// a table of bids and reasons; a split job's chunks with their executors and Merkle root, and a
// proof check run here (WebCrypto SHA-256) that trusts nothing the node says about the proof;
// partial outputs as they come; the output's download; the files of its output directory, each
// checked here against its CID before it is shown. Live: re-read on the job's events.
import { MeshError, verifyChunkProof } from './mesh.js';
import { badge, debounce, downloadBytes, errorText, facts, fill, fmtBytes, fmtNumber, fmtTime, h, json, shortId, table } from './dom.js';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const PREVIEW_BYTES = 4096;

export function render(app, root, id) {
  const sections = {
    head: h('div', { id: 'job-head' }),
    error: h('p', { class: 'error', role: 'alert' }),
    summary: h('div', { class: 'card', id: 'job-summary' }, 'Loading…'),
    output: h('div', { class: 'card', id: 'job-output' }),
    files: h('div', { class: 'card', id: 'job-files', hidden: true }),
    partials: h('div', { class: 'card', id: 'job-partials' }),
    explain: h('div', { class: 'card', id: 'job-explain' }),
    chunks: h('div', { class: 'card', id: 'job-chunks', hidden: true }),
    proof: h('div', { class: 'card', id: 'job-proof', hidden: true }),
    history: h('div', { class: 'card', id: 'job-history' }),
    spec: h('div', { class: 'card', id: 'job-spec' }),
  };
  root.append(...Object.values(sections));
  const state = { job: null, chunks: null, shownOutput: null, shownFiles: null, partialsShown: 0 };
  const proofPanel = buildProofPanel(app, id, sections.proof, state);

  const load = async () => {
    try {
      const job = await app.client.job(id);
      state.job = job;
      sections.error.textContent = '';
      showHead(app, sections.head, job, load);
      showSummary(sections.summary, job);
      showSpec(sections.spec, job);
      const [history, explain, partials, chunks] = await Promise.all([
        app.client.history(id), app.client.explain(id), app.client.partials(id),
        job.spec?.split ? readChunks(app, id) : null,
      ]);
      showHistory(sections.history, history);
      showExplain(sections.explain, explain);
      await showPartials(app, sections.partials, partials, state);
      state.chunks = chunks;
      showChunks(sections.chunks, chunks);
      proofPanel.update(chunks);
      await showOutput(app, sections.output, job, state);
      await showFiles(app, sections.files, job, state);
    } catch (e) {
      sections.error.textContent = errorText(e);
    }
  };
  const soon = debounce(load, 150);
  load();
  const unsubscribe = app.onEvent((e) => {
    // A split job's chunks are jobs of their own: any job's event may move one of them.
    if (e.job_id === id || (state.chunks && e.type?.startsWith('job.'))) soon();
  });
  return () => {
    soon.cancel();
    unsubscribe();
  };
}

// Asked only of split jobs (the spec says so): any other answers 404.
async function readChunks(app, id) {
  try {
    return await app.client.chunks(id);
  } catch (e) {
    if (e instanceof MeshError && e.status === 404) return null;  // not a split job
    throw e;
  }
}

function showHead(app, head, job, reload) {
  const actions = [];
  if (app.canSubmit && !TERMINAL.includes(job.state)) {
    actions.push(h('button', {
      type: 'button', id: 'cancel-job', class: 'danger',
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await app.client.cancel(job.id);
        } catch (err) {
          alertIn(head, err);
        }
        reload();
      },
    }, 'Cancel'));
  }
  fill(head, h('h1', {}, 'Job ', h('code', { title: job.id }, shortId(job.id, 20)), ' ',
    h('span', { id: 'job-state', 'data-state': job.state }, badge(job.state))), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

function alertIn(el, err) {
  el.append(h('p', { class: 'error', role: 'alert' }, errorText(err)));
}

function showSummary(card, job) {
  fill(card, h('h2', {}, 'Summary'), facts([
    ['id', h('code', {}, job.id)],
    ['state', job.state],
    ['phase', job.phase],
    ['placement', job.placement],
    ['executor', job.executor && h('code', {}, job.executor)],
    ['origin', job.origin && h('code', {}, job.origin)],
    ['reason', job.reason],
    ['submitter', job.submitter && h('code', {}, job.submitter)],
    ['priority', job.priority],
    ['labels', Object.entries(job.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')],
    ['submitted', fmtTime(job.submitted_at)],
    ['started', fmtTime(job.started_at)],
    ['finished', fmtTime(job.finished_at)],
    ['queue wait', job.queue_wait_ms !== undefined ? `${job.queue_wait_ms.toFixed(1)} ms` : ''],
    ['run time', job.run_ms !== undefined ? `${job.run_ms.toFixed(1)} ms` : ''],
    ['attempts', job.attempts],
    ['outcome', job.outcome],
    ['exit code', job.exit_code],
    ['fuel used', job.fuel_used !== undefined ? fmtNumber(job.fuel_used) : ''],
    ['output', job.output_cid && h('code', {}, job.output_cid)],
    ['output tree', job.files_cid && h('code', {}, job.files_cid)],
    ['stored output', job.stored_output && h('a', { href: '#/files' }, h('code', {}, job.stored_output))],
  ]));
}

function showSpec(card, job) {
  const limits = job.spec?.limits ?? {};
  fill(card, h('h2', {}, 'Spec and limits'),
    facts([
      ['fuel limit', fmtNumber(limits.fuel)],
      ['memory', fmtBytes(limits.memory_bytes)],
      ['wall time', limits.wall_time_ms !== undefined ? `${limits.wall_time_ms} ms` : ''],
      ['max output', fmtBytes(limits.max_output_bytes)],
      ['verification', typeof job.spec?.verification === 'string' ? job.spec.verification : JSON.stringify(job.spec?.verification ?? '')],
    ]),
    h('details', {}, h('summary', {}, 'Spec (JSON)'), json(job.spec)),
    job.report ? h('details', { open: true }, h('summary', {}, 'Run report'), json(job.report)) : null);
}

function showHistory(card, history) {
  fill(card, h('h2', {}, 'History'),
    h('p', { class: 'muted' }, 'Each step is a content-addressed block naming the one before it.'),
    h('ol', { class: 'timeline', id: 'history-timeline' }, history.blocks.map((b) =>
      h('li', { 'data-phase': b.phase },
        h('div', { class: 'when' }, fmtTime(b.at)),
        h('div', {}, h('strong', {}, b.phase), ' ', h('code', { title: b.cid }, shortId(b.cid, 14)),
          b.prev ? h('span', { class: 'muted' }, ' ← ', h('code', { title: b.prev }, shortId(b.prev, 10))) : null),
        Object.keys(b.detail ?? {}).length ? h('details', {}, h('summary', {}, 'detail'), json(b.detail)) : null))));
}

function showExplain(card, explain) {
  const rows = [];
  for (const round of explain.rounds ?? []) {
    const sel = round.selection ?? {};
    for (const bid of sel.ranked ?? []) {
      rows.push([round.round, h('code', { title: bid.executor }, shortId(bid.executor, 20)), bid.won ? 'won' : 'bid',
        fmtNumber(bid.price), bid.score?.toFixed?.(3) ?? '', finishTime(bid.expected_finish_ms), bid.reason ?? '']);
    }
    for (const r of sel.rejected ?? []) {
      rows.push([round.round, h('code', { title: r.executor }, shortId(r.executor, 20)), 'filtered', '', '', '', `${r.code}: ${r.message}`]);
    }
    for (const d of round.declines ?? []) {
      rows.push([round.round, h('code', { title: d.executor }, shortId(d.executor, 20)), 'declined', '', '', '', `${d.code}: ${d.message}`]);
    }
    for (const u of round.unanswered ?? []) {
      rows.push([round.round, h('code', { title: u.executor }, shortId(u.executor, 20)), 'no answer', '', '', '', u.error]);
    }
  }
  fill(card, h('h2', {}, 'Explain'),
    facts([
      ['placement', explain.placement],
      ['why', explain.placement_reason],
      ['executor', explain.executor && h('code', {}, explain.executor)],
      ['requeues', (explain.requeues ?? []).length || ''],
    ]),
    rows.length ? table(['round', 'executor', 'result', 'price', 'score', 'expected finish', 'reason'], rows, { id: 'explain-table' })
      : h('p', { class: 'muted', id: 'explain-none' }, 'No auction: the job was placed without bids.'));
}

// A bid's expected finish: a Unix time in milliseconds.
function finishTime(ms) {
  if (typeof ms !== 'number' || ms <= 0) return '';
  const d = new Date(ms);
  return `${d.toLocaleTimeString()}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

async function showPartials(app, card, partials, state) {
  if (partials.length === state.partialsShown && card.childElementCount) return;
  state.partialsShown = partials.length;
  const items = [];
  for (const p of partials) {
    let preview = '';
    try {
      preview = new TextDecoder().decode((await app.client.getBlob(p.cid, state.job?.id)).slice(0, PREVIEW_BYTES));
    } catch (e) {
      preview = errorText(e);
    }
    const oneLine = preview.trimEnd();
    const short = oneLine.length <= 80 && !oneLine.includes('\n');
    items.push(h('li', {}, h('span', { class: 'muted' }, `${fmtBytes(p.bytes)} · ${fmtTime(p.at)} `),
      short ? h('code', {}, oneLine) : h('pre', {}, preview)));
  }
  fill(card, h('h2', {}, 'Partial outputs'),
    items.length ? h('ol', { id: 'partials-list', class: 'partials', start: 0 }, items) : h('p', { class: 'muted' }, 'None yet (a job sends them with mesh.emit_partial).'));
}

async function showOutput(app, card, job, state) {
  if (!TERMINAL.includes(job.state)) {
    fill(card, h('h2', {}, 'Output'), h('p', { class: 'muted' }, 'The output is here once the job has ended.'));
    return;
  }
  if (state.shownOutput === job.output_cid) return;
  state.shownOutput = job.output_cid;
  if (!job.output_cid) {
    fill(card, h('h2', {}, 'Output'), h('p', { class: 'muted' }, 'The job ended without output.'));
    return;
  }
  let bytes;
  try {
    bytes = await app.client.output(job.id);
  } catch (e) {
    fill(card, h('h2', {}, 'Output'), h('p', { class: 'error' }, errorText(e)));
    return;
  }
  const download = h('button', {
    type: 'button', id: 'download-output',
    onclick: () => downloadBytes(bytes, `${job.id}.out`),
  }, `Download (${fmtBytes(bytes.length)})`);
  fill(card, h('h2', {}, 'Output'), download, h('pre', { id: 'output-preview' }, previewText(bytes)));
}

// The first PREVIEW_BYTES of `bytes` as text, "…" on a line of its own when there is more.
function previewText(bytes) {
  const text = new TextDecoder().decode(bytes.slice(0, PREVIEW_BYTES));
  return text + (bytes.length > PREVIEW_BYTES ? '\n…' : '');
}

// The output directory's files (spec.output_dir): the tree's manifest and each file shown are
// checked in this browser against their CIDs (WebCrypto SHA-256).
async function showFiles(app, card, job, state) {
  card.hidden = !job.files_cid;
  if (!job.files_cid || state.shownFiles === job.files_cid) return;
  state.shownFiles = job.files_cid;
  let entries;
  try {
    entries = await app.client.outputFiles(job);
  } catch (e) {
    fill(card, h('h2', {}, 'Output files'), h('p', { class: 'error' }, errorText(e)));
    return;
  }
  const preview = h('pre', { id: 'file-preview', hidden: true });
  const note = h('p', { id: 'file-note', class: 'muted', 'aria-live': 'polite' });
  const show = async (entry) => {
    note.textContent = `Reading ${entry.path}…`;
    try {
      const bytes = await app.client.outputFile(job.id, entry);
      preview.textContent = previewText(bytes);
      preview.hidden = false;
      preview.dataset.path = entry.path;
      note.textContent = `✓ ${entry.path}: ${fmtBytes(bytes.length)}, SHA-256 checked here against its CID`;
      note.className = 'good';
    } catch (e) {
      preview.hidden = true;
      note.textContent = `✗ ${errorText(e)}`;
      note.className = 'bad';
    }
  };
  const rows = entries.map((e) => [
    h('code', {}, e.path), e.kind,
    e.kind === 'file' ? fmtBytes(e.size) : e.kind === 'symlink' ? `→ ${e.target}` : '',
    e.kind === 'file' ? h('button', { type: 'button', class: 'show-file', 'data-path': e.path, onclick: () => show(e) }, 'Show') : '',
  ]);
  fill(card, h('h2', {}, 'Output files'),
    h('p', { class: 'muted' }, 'What the job left in ', h('code', {}, job.spec?.output_dir ?? ''),
      '. Fetch them all with ', h('code', {}, `mesh output ${job.id} --dir DEST`), '.'),
    rows.length ? table(['path', 'kind', 'size', ''], rows, { id: 'files-table' })
      : h('p', { class: 'muted' }, 'The output directory was left empty.'),
    note, preview);
}

function showChunks(card, chunks) {
  card.hidden = !chunks;
  if (!chunks) return;
  fill(card, h('h2', {}, 'Chunks'),
    facts([
      ['stage', chunks.stage],
      ['done', `${chunks.done} of ${chunks.total}`],
      ['Merkle root', chunks.merkle_root ? h('code', { id: 'merkle-root' }, chunks.merkle_root) : 'once merged'],
    ]),
    table(['#', 'state', 'executor', 'input', 'output', 'fuel'], chunks.chunks.map((c) => [
      c.index, badge(c.state), c.executor ? h('code', { title: c.executor }, shortId(c.executor, 20)) : 'this node',
      fmtBytes(c.input_bytes), c.output_cid ? h('code', { title: c.output_cid }, shortId(c.output_cid, 16)) : '',
      c.fuel_used !== undefined ? fmtNumber(c.fuel_used) : '',
    ]), { id: 'chunks-table' }));
}

// The proof check: fetch a chunk's proof into an editable field (so anyone can see what a
// tampered proof does), then verify it here from the chunk output's own bytes, against the root
// and chunk count of the job's chunk list.
function buildProofPanel(app, id, card, state) {
  const select = h('select', { id: 'proof-chunk' });
  const field = h('textarea', { id: 'proof-json', rows: 10, spellcheck: 'false' });
  const result = h('p', { id: 'proof-result', class: 'muted', 'aria-live': 'polite' });
  const fetchButton = h('button', { type: 'button', id: 'proof-fetch' }, 'Fetch proof');
  const verifyButton = h('button', { type: 'button', id: 'proof-verify' }, 'Verify in browser');
  const show = (text, cls, verdict) => {
    result.textContent = text;
    result.className = cls;
    result.dataset.verdict = verdict;
  };
  fetchButton.addEventListener('click', async () => {
    try {
      const answer = await app.client.chunkProof(id, select.value);
      field.value = JSON.stringify(answer, null, 2);
      show('Fetched. Edit it if you like, then verify.', 'muted', 'pending');
    } catch (e) {
      show(errorText(e), 'error', 'error');
    }
  });
  verifyButton.addEventListener('click', async () => {
    show('Checking…', 'muted', 'pending');
    let answer;
    try {
      answer = JSON.parse(field.value);
    } catch (e) {
      show(`✗ the proof is not JSON: ${e.message}`, 'bad', 'fail');
      return;
    }
    const chunk = state.chunks?.chunks?.find((c) => String(c.index) === select.value);
    try {
      const output = await app.client.getBlob(chunk.output_cid, id);
      const verdict = await verifyChunkProof(answer, {
        output, root: state.chunks.merkle_root, treeSize: state.chunks.total,
      });
      if (verdict.ok) {
        show(`✓ valid: chunk ${chunk.index}'s output (${fmtBytes(output.length)}, hashed here) leads to root ${verdict.root}`, 'good', 'pass');
      } else {
        show(`✗ invalid: ${verdict.reason}`, 'bad', 'fail');
      }
    } catch (e) {
      show(`✗ ${errorText(e)}`, 'bad', 'fail');
    }
  });
  fill(card, h('h2', {}, 'Check a chunk proof'),
    h('p', { class: 'muted' }, 'SHA-256 runs in this browser (WebCrypto): the leaf is recomputed from the chunk output\'s bytes and the path walked up to the root.'),
    h('div', { class: 'row' }, h('label', { for: 'proof-chunk' }, 'Chunk'), select, fetchButton, verifyButton),
    field, result);
  let shown = '';
  return {
    update(chunks) {
      const merged = Boolean(chunks?.merkle_root);
      card.hidden = !merged;
      const key = merged ? `${chunks.total}` : '';
      if (!merged || key === shown) return;
      shown = key;
      fill(select, chunks.chunks.map((c) => h('option', { value: c.index }, `#${c.index}`)));
    },
  };
}
