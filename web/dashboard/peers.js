// Peers: the membership's view (active and passive), each peer's RTT, load, capacity,
// capabilities and reputation, and this node's own hardware profile.
import { errorText, facts, fill, fmtBytes, fmtNumber, h, json, shortId, table } from './dom.js';

const REFRESH_MS = 5000;

export function render(app, root) {
  const list = h('div', { id: 'peers-list' }, 'Loading…');
  const profile = h('div', { class: 'card', id: 'node-profile' });
  const error = h('p', { class: 'error', role: 'alert' });
  root.append(h('h1', {}, 'Peers'), error, list, profile);

  const load = async () => {
    try {
      const [node, reputation, prof] = await Promise.all([app.client.node(), app.client.reputation(), app.client.nodeProfile()]);
      error.textContent = '';
      showProfile(profile, prof);
      if (!node.mesh) {
        // Asking /v1/peers would only get a 404: this node has no peers.
        fill(list, h('p', { class: 'card', id: 'peers-none' }, 'This node runs without the mesh (--no-mesh): it has no peers.'));
        return;
      }
      showPeers(list, await app.client.peers(), reputation);
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}

function showPeers(list, view, reputation) {
  const score = new Map(reputation.map((r) => [r.did, r]));
  fill(list,
    h('p', {}, `${view.active} active, ${view.known} known (the bounded views, not the whole network). This node: `,
      h('code', { title: view.self.did }, shortId(view.self.did, 24)), ` at ${view.self.address}`),
    table(['peer', 'address', 'state', 'RTT', 'load', 'capacity', 'capabilities', 'reputation'],
      view.peers.map((p) => {
        const r = score.get(p.did);
        return [
          h('code', { title: p.did }, shortId(p.did, 20)),
          p.address,
          p.state,
          p.rtt_ms !== undefined ? `${p.rtt_ms.toFixed(1)} ms` : '',
          p.load ? `${p.load.running} running, ${p.load.queued} queued${p.load.draining ? ', draining' : ''}` : '',
          p.capacity ? `${p.capacity.cpu_cores} cores, ${fmtBytes(p.capacity.memory_bytes)}, ${fmtNumber(p.capacity.fuel_per_second)} fuel/s` : '',
          (p.capabilities ?? []).join(', '),
          r ? `${r.score.toFixed(2)} (${r.successes} ok, ${r.failures} failed)` : 'none yet',
        ];
      }), { id: 'peers-table' }));
}

function showProfile(card, profile) {
  fill(card, h('h2', {}, 'This node\'s profile'),
    facts([
      ['CPU', profile.cpu_model],
      ['cores / threads', profile.cores !== undefined ? `${profile.cores} / ${profile.threads}` : ''],
      ['memory', profile.memory_total_bytes !== undefined ? `${fmtBytes(profile.memory_free_bytes)} free of ${fmtBytes(profile.memory_total_bytes)}` : ''],
      ['disk free', fmtBytes(profile.disk_free_bytes)],
      ['ISA', (profile.isa ?? []).join(', ')],
      ['GPUs', (profile.gpus ?? []).map((g) => `${g.vendor} ${g.model}`).join(', ') || 'none'],
      ['OS', [profile.os, profile.kernel, profile.arch].filter(Boolean).join(' · ')],
      ['capabilities', (profile.capabilities ?? []).join(', ')],
      ['speed', profile.ready ? `${fmtNumber(profile.speed?.fuel_per_second)} fuel/s (${profile.speed?.source})` : 'measuring'],
    ]),
    h('details', {}, h('summary', {}, 'Profile (JSON)'), json(profile)));
}
