// Ledger: this node's balance and held credits, the entries of its hash chain, and a button
// that has the node walk the whole chain (signatures and links) and say whether it holds.
import { errorText, facts, fill, fmtTime, h, shortId, table } from './dom.js';

export function render(app, root) {
  const balance = h('div', { class: 'card', id: 'ledger-balance' }, 'Loading…');
  const verifyButton = h('button', { type: 'button', id: 'verify-chain' }, 'Verify chain');
  const verdict = h('p', { id: 'verify-result', 'aria-live': 'polite' });
  const history = h('div', { class: 'card', id: 'ledger-history' });
  const reputation = h('div', { class: 'card', id: 'ledger-reputation' });
  const error = h('p', { class: 'error', role: 'alert' });
  root.append(h('h1', {}, 'Ledger'), error, balance,
    h('div', { class: 'card' }, h('h2', {}, 'Integrity'), verifyButton, verdict), history, reputation);

  verifyButton.addEventListener('click', async () => {
    verifyButton.disabled = true;
    verdict.textContent = 'Walking the chain…';
    verdict.className = 'muted';
    try {
      const r = await app.client.verifyLedger();
      verdict.dataset.ok = String(r.ok);
      verdict.className = r.ok ? 'good' : 'bad';
      verdict.textContent = r.ok
        ? `✓ the chain holds: ${r.entries} entries, every link and signature checked; head ${shortId(r.head, 16)}`
        : `✗ broken at entry ${r.first_bad_seq}: ${r.problem}`;
    } catch (e) {
      verdict.className = 'bad';
      verdict.textContent = errorText(e);
    } finally {
      verifyButton.disabled = false;
    }
  });

  const load = async () => {
    try {
      const [b, entries, executors] = await Promise.all([
        app.client.balance(), app.client.ledgerHistory({ limit: 100 }), app.client.reputation(),
      ]);
      error.textContent = '';
      fill(balance, h('h2', {}, 'Balance'), facts([
        ['account', h('code', { title: b.did }, shortId(b.did, 28))],
        ['available', h('span', { id: 'balance-available' }, b.available)],
        ['held (escrow)', h('span', { id: 'balance-held' }, b.held)],
      ]));
      fill(history, h('h2', {}, 'History'), entries.length
        ? table(['#', 'time', 'kind', 'postings', 'hash'], entries.map((e) => [
          e.seq, fmtTime(e.time), e.kind,
          e.postings.map((p) => h('div', {}, `${shortId(p.account, 20)} ${p.amount > 0 ? '+' : ''}${p.amount}`)),
          h('code', { title: e.hash }, shortId(e.hash, 12)),
        ]), { id: 'ledger-table' })
        : h('p', { class: 'muted' }, 'No entries yet.'));
      fill(reputation, h('h2', {}, 'Reputation'), executors.length
        ? table(['executor', 'score', 'successes', 'failures', 'timeouts', 'outvoted'], executors.map((r) => [
          h('code', { title: r.did }, shortId(r.did, 20)), r.score.toFixed(3), r.successes, r.failures, r.timeouts, r.outvoted,
        ]))
        : h('p', { class: 'muted' }, 'No executor has a record yet.'));
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  load();
  const unsubscribe = app.onEvent((e) => {
    if (/^job\.(succeeded|failed|cancelled)$/.test(e.type)) load();
  });
  return unsubscribe;
}
