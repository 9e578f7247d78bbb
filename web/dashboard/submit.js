// Submit: upload a .wasm and inputs, set args, env, limits, priority, verification, split and
// placement, submit, and watch the job go live (its state follows the event stream).
import { badge, errorText, fill, h } from './dom.js';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

function field(label, input, hint) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

function keyValues(text, what) {
  const out = {};
  for (const line of lines(text)) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: "${line}" is not KEY=VALUE`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function integer(input, what) {
  if (input.value.trim() === '') return undefined;
  const n = Number(input.value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what}: "${input.value}" is not a non-negative integer`);
  return n;
}

export function render(app, root) {
  root.append(h('h1', {}, 'Submit a job'));
  if (!app.canSubmit) {
    root.append(h('p', { class: 'card', id: 'submit-forbidden' },
      `Your role (${app.me.role}) can read jobs but not submit them; ask an admin for a submit token.`));
    return null;
  }
  const f = {
    module: h('input', { id: 'module-file', type: 'file', accept: '.wasm,application/wasm', required: true }),
    inputs: h('input', { id: 'input-files', type: 'file', multiple: true }),
    stdin: h('textarea', { id: 'input-text', rows: 3, placeholder: 'text given as one more input (stdin)' }),
    args: h('textarea', { id: 'args', rows: 2, placeholder: 'one argument per line' }),
    env: h('textarea', { id: 'env', rows: 2, placeholder: 'KEY=VALUE, one per line' }),
    labels: h('textarea', { id: 'labels', rows: 2, placeholder: 'key=value, one per line' }),
    fuel: h('input', { id: 'limit-fuel', type: 'number', min: 1, placeholder: 'node default' }),
    memory: h('input', { id: 'limit-memory', type: 'number', min: 1, placeholder: 'MiB (node default)' }),
    wall: h('input', { id: 'limit-wall', type: 'number', min: 1, placeholder: 'ms (node default)' }),
    priority: h('input', { id: 'priority', type: 'number', value: 0 }),
    verification: h('select', { id: 'verification' }, ['', 'none', 'hash', 'replicate(3)', 'adaptive'].map((v) => h('option', { value: v }, v || 'node default'))),
    placement: h('select', { id: 'placement' }, ['auto', 'local', 'remote'].map((v) => h('option', { value: v }, v))),
    capabilities: h('input', { id: 'capabilities', placeholder: 'e.g. avx2, gpu' }),
    split: h('select', { id: 'split-kind' }, [['', 'no split'], ['lines', 'lines'], ['bytes', 'bytes'], ['records', 'records']].map(([v, t]) => h('option', { value: v }, t))),
    parts: h('input', { id: 'split-parts', type: 'number', min: 1, value: 4, placeholder: 'parts (or chunk bytes)' }),
  };
  const button = h('button', { type: 'submit', id: 'submit-button' }, 'Submit');
  const status = h('div', { id: 'submit-result', 'aria-live': 'polite' });
  const form = h('form', { id: 'submit-form', class: 'card form' },
    field('Module (.wasm)', f.module),
    field('Input files', f.inputs, 'concatenated, in order, as stdin'),
    field('Input text', f.stdin),
    field('Arguments', f.args),
    field('Environment', f.env),
    field('Labels', f.labels),
    h('div', { class: 'grid3' }, field('Fuel', f.fuel), field('Memory (MiB)', f.memory), field('Wall time (ms)', f.wall)),
    h('div', { class: 'grid3' }, field('Priority', f.priority), field('Verification', f.verification), field('Placement', f.placement)),
    field('Required capabilities', f.capabilities, 'comma-separated'),
    h('div', { class: 'grid3' }, field('Split', f.split, 'cut the first input into chunks run in parallel'), field('Parts / chunk bytes', f.parts)),
    button);
  root.append(form, status);

  let unsubscribe = null;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    unsubscribe?.();
    fill(status, h('p', { class: 'muted' }, 'Uploading…'));
    try {
      const spec = await buildSpec(app, f);
      fill(status, h('p', { class: 'muted' }, 'Submitting…'));
      const job = await app.client.submit(spec);
      unsubscribe = follow(app, status, job);
    } catch (err) {
      fill(status, h('p', { class: 'error', role: 'alert' }, errorText(err)));
    } finally {
      button.disabled = false;
    }
  });
  return () => unsubscribe?.();
}

async function buildSpec(app, f) {
  const file = f.module.files[0];
  if (!file) throw new Error('choose a .wasm module');
  const inputs = [];
  for (const input of f.inputs.files) inputs.push(await app.client.upload(input));
  if (f.stdin.value !== '') inputs.push(await app.client.upload(new TextEncoder().encode(f.stdin.value)));
  const spec = {
    module: await app.client.upload(file),
    inputs,
    args: lines(f.args.value),
    env: keyValues(f.env.value, 'environment'),
    labels: keyValues(f.labels.value, 'labels'),
    priority: Number(f.priority.value || 0),
    placement: f.placement.value,
  };
  const limits = {};
  const fuel = integer(f.fuel, 'fuel');
  const memory = integer(f.memory, 'memory');
  const wall = integer(f.wall, 'wall time');
  if (fuel !== undefined) limits.fuel = fuel;
  if (memory !== undefined) limits.memory_bytes = memory * 1024 * 1024;
  if (wall !== undefined) limits.wall_time_ms = wall;
  if (Object.keys(limits).length) spec.limits = limits;
  if (f.verification.value) spec.verification = f.verification.value;
  const capabilities = f.capabilities.value.split(',').map((c) => c.trim()).filter(Boolean);
  if (capabilities.length) spec.requirements = { capabilities };
  if (f.split.value) {
    const n = integer(f.parts, 'parts');
    if (!n) throw new Error('a split needs a number of parts (chunk bytes for "bytes")');
    spec.split = { splitter: f.split.value === 'bytes' ? { kind: 'bytes', chunk_bytes: n } : { kind: f.split.value, parts: n } };
  }
  return spec;
}

// Shows the job and keeps its state current from the job's own event stream, read from its
// first event (after=0), so that a state reached before the stream opened is not missed.
function follow(app, status, job) {
  const state = h('span', { id: 'submit-state', 'data-state': job.state }, badge(job.state));
  const steps = h('ol', { id: 'submit-steps', class: 'steps' }, h('li', {}, job.state));
  fill(status, h('div', { class: 'card' },
    h('p', {}, 'Job ', h('a', { href: `#/jobs/${encodeURIComponent(job.id)}`, id: 'submit-job-link' }, h('code', {}, job.id)), ' ', state),
    steps));
  const setState = (s) => {
    if (!s || state.dataset.state === s) return;
    state.dataset.state = s;
    fill(state, badge(s));
    steps.append(h('li', {}, s));
  };
  const stop = new AbortController();
  (async () => {
    try {
      for await (const e of app.client.events({ job: job.id, after: 0, signal: stop.signal })) {
        if (!e.type?.startsWith('job.') || e.type === 'job.progress' || !e.state) continue;
        setState(e.state);
        if (TERMINAL.includes(e.state)) break;
      }
    } catch (err) {
      if (stop.signal.aborted) return;
      // The stream broke: read the job once so the page at least shows where it is.
      app.client.job(job.id).then((j) => setState(j.state), () => {});
    }
  })();
  return () => stop.abort();
}
