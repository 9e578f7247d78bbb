// Overview: this node, its peers, queue and running jobs, fuel and jobs per second, with small
// live charts (Chart.js, embedded in meshd). Sampled from GET /v1/node every two seconds and at
// once on every job's end.
import { debounce, errorText, facts, fill, fmtBytes, fmtNumber, h, shortId } from './dom.js';

const SAMPLE_MS = 2000;
const POINTS = 60;
const RATE_WINDOW_MS = 10_000;

export function render(app, root) {
  const summary = h('div', { class: 'card', id: 'node-summary' }, 'Loading…');
  const tiles = h('div', { class: 'tiles', id: 'tiles' });
  const charts = h('div', { class: 'charts' });
  const error = h('p', { class: 'error', role: 'alert' });
  root.append(h('h1', {}, 'Overview'), error, tiles, charts, summary);

  const series = [
    lineChart(charts, 'jobs-chart', 'Jobs finished per second', ['jobs/s']),
    lineChart(charts, 'fuel-chart', 'Fuel per second', ['fuel/s']),
    lineChart(charts, 'queue-chart', 'Queue and running', ['queued', 'running']),
  ];
  const finished = [];  // {at, completed}: the last RATE_WINDOW_MS of samples

  const sample = async () => {
    try {
      const node = await app.client.node();
      error.textContent = '';
      const now = Date.now();
      const s = node.stats;
      // Jobs per second over a sliding window, not between two samples: samples also come at
      // once on events, and a rate over half a second of a burst says little.
      finished.push({ at: now, completed: s.completed });
      while (finished.length > 2 && now - finished[1].at >= RATE_WINDOW_MS) finished.shift();
      const base = finished[0];
      const seconds = (now - base.at) / 1000;
      const jobsPerSecond = seconds >= 1 ? Math.max(0, (s.completed - base.completed) / seconds) : 0;
      const label = new Date(now).toLocaleTimeString();
      series[0].push(label, [jobsPerSecond]);
      series[1].push(label, [s.fuel_per_second]);
      series[2].push(label, [s.queued, s.running]);
      showTiles(tiles, node, jobsPerSecond);
      showSummary(summary, node);
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  const soon = debounce(sample, 250);
  const unsubscribe = app.onEvent((e) => {
    if (/^job\.(queued|running|succeeded|failed|cancelled)$/.test(e.type)) soon();
  });
  return () => {
    clearInterval(timer);
    soon.cancel();
    unsubscribe();
    for (const s of series) s.destroy();
  };
}

function showTiles(tiles, node, jobsPerSecond) {
  const s = node.stats;
  const tile = (id, label, value) => h('div', { class: 'tile', id }, h('span', { class: 'value' }, value), h('span', { class: 'caption' }, label));
  fill(tiles,
    tile('tile-queued', 'queued', s.queued),
    tile('tile-running', 'running', `${s.running} / ${s.max_concurrent}`),
    tile('tile-succeeded', 'succeeded', s.succeeded),
    tile('tile-failed', 'failed', s.failed),
    tile('tile-peers', 'peers alive', node.mesh ? `${node.mesh.peers_alive} / ${node.mesh.peers_known}` : 'no mesh'),
    tile('tile-fuel', 'fuel / s', fmtNumber(s.fuel_per_second)),
    tile('tile-jobs', 'jobs / s', jobsPerSecond.toFixed(2)));
}

function showSummary(card, node) {
  fill(card, h('h2', {}, 'This node'), facts([
    ['DID', h('code', { title: node.did }, shortId(node.did, 28))],
    ['version', node.version],
    ['engine', node.engine],
    ['workers', node.workers],
    ['uptime', `${Math.round(node.uptime_seconds)} s`],
    ['blob store', node.blob_quota_bytes ? `${fmtBytes(node.blob_store_bytes)} of ${fmtBytes(node.blob_quota_bytes)}` : `${fmtBytes(node.blob_store_bytes)} (no quota)`],
    ['mesh address', node.mesh?.address ?? 'runs without the mesh (--no-mesh)'],
    ['auctions open', node.mesh?.auctions_open],
    ['delegated running', node.mesh?.delegated_running],
    ['load', node.stats.load?.toFixed?.(2)],
    ['fuel used (total)', fmtNumber(node.stats.fuel_used_total)],
    ['draining', node.stats.draining ? 'yes' : 'no'],
  ]));
}

const COLORS = ['#2b6cb0', '#c05621', '#2f855a'];

// A small line chart that keeps the last POINTS samples.
function lineChart(parent, id, title, names) {
  const canvas = h('canvas', { id, 'aria-label': title, role: 'img' });
  parent.append(h('div', { class: 'card chart' }, h('h3', {}, title), h('div', { class: 'chart-box' }, canvas)));
  const chart = new window.Chart(canvas, {
    type: 'line',
    data: {
      labels: [],
      datasets: names.map((name, i) => ({
        label: name, data: [], borderColor: COLORS[i], backgroundColor: COLORS[i], pointRadius: 0, tension: 0.2,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: { display: false }, y: { beginAtZero: true } },
      plugins: { legend: { display: names.length > 1 } },
    },
  });
  return {
    push(label, values) {
      chart.data.labels.push(label);
      values.forEach((v, i) => chart.data.datasets[i].data.push(v));
      if (chart.data.labels.length > POINTS) {
        chart.data.labels.shift();
        for (const d of chart.data.datasets) d.data.shift();
      }
      chart.update('none');
    },
    destroy: () => chart.destroy(),
  };
}
