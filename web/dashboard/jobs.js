// Jobs: the node's jobs, newest first, filtered by state, label and submitter on the node (over
// all its jobs, not the page shown); re-read when a job changes state, so the list is live.
import { badge, debounce, errorText, fill, fmtNumber, fmtTime, h, shortId, table } from './dom.js';

const STATES = ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
const DID = /^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$/;

export function render(app, root) {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const state = h('select', { id: 'filter-state', name: 'state' },
    STATES.map((s) => h('option', { value: s, selected: s === (params.get('state') ?? '') }, s || 'any state')));
  const label = h('input', { id: 'filter-label', name: 'label', placeholder: 'label: key or key=value' });
  const submitter = h('input', { id: 'filter-submitter', name: 'submitter', placeholder: 'submitter did:key (whole)' });
  const list = h('div', { id: 'jobs-list' }, 'Loading…');
  const error = h('p', { class: 'error', role: 'alert' });
  root.append(h('h1', {}, 'Jobs'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, state, label, submitter),
    error, list);

  const load = async () => {
    const who = submitter.value.trim();
    if (who && !DID.test(who)) {
      error.textContent = 'The submitter filter takes a whole did:key (did:key:z6Mk…).';
      return;
    }
    try {
      const jobs = await app.client.jobs({
        state: state.value || undefined, label: label.value.trim(), submitter: who, limit: 200,
      });
      error.textContent = '';
      show(list, jobs);
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  const soon = debounce(load, 200);
  for (const input of [state, label, submitter]) input.addEventListener('input', soon);
  load();
  const unsubscribe = app.onEvent((e) => {
    if (e.type?.startsWith('job.') && e.type !== 'job.progress') soon();
  });
  return () => {
    soon.cancel();
    unsubscribe();
  };
}

function show(list, jobs) {
  if (jobs.length === 0) {
    fill(list, h('p', { class: 'muted' }, 'No jobs match.'));
    return;
  }
  fill(list, table(['job', 'state', 'submitted', 'placement', 'labels', 'fuel'],
    jobs.map((j) => [
      h('a', { href: `#/jobs/${encodeURIComponent(j.id)}`, class: 'job-link', 'data-job': j.id }, h('code', {}, shortId(j.id, 16))),
      badge(j.state),
      fmtTime(j.submitted_at),
      j.placement,
      Object.entries(j.labels ?? {}).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)),
      fmtNumber(j.fuel_used),
    ]), { id: 'jobs-table' }));
}
