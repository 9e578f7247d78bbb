// The dashboard's shell: sign-in, the caller's role, the page router (#/..., one module per
// page) and the one live event stream every page listens to.
//
// The token lives in sessionStorage (this tab only) and goes out as "Authorization: Bearer";
// there are no cookies, so other sites cannot make the browser act as the user (no CSRF).
import { Client, MeshError } from './mesh.js';
import { errorText, fill, h } from './dom.js';
import * as filesPage from './files.js';
import * as jobPage from './job.js';
import * as jobsPage from './jobs.js';
import * as ledgerPage from './ledger.js';
import * as overviewPage from './overview.js';
import * as peersPage from './peers.js';
import * as submitPage from './submit.js';

const TOKEN_KEY = 'mesh.token';
const RECONNECT_MS = 2000;

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.client = null;
    this.me = null;
    this.listeners = new Set();
    this.lastSeq = undefined;
    this.stream = null;
    this.cleanup = null;
  }

  /** Calls fn(event) for every event of the node's stream until the returned function runs. */
  onEvent(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get canSubmit() {
    return this.me?.role !== 'read';
  }

  async start() {
    $('sign-in-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.signIn($('token').value.trim());
    });
    $('sign-out').addEventListener('click', () => this.signOut());
    window.addEventListener('hashchange', () => this.route());
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      await this.signIn(saved);
    } else {
      this.showSignIn('');
    }
  }

  showSignIn(message) {
    $('nav').hidden = true;
    $('who').hidden = true;
    fill($('page'));
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = message;
  }

  async signIn(token) {
    const client = new Client({ token });
    try {
      // Any route that needs the token tells whether it is good.
      await client.jobs({ limit: 1 });
      this.me = await whoAmI(client);
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      const refused = e instanceof MeshError && e.status === 401;
      this.showSignIn(refused ? 'This token is not accepted by the node.' : errorText(e));
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    this.client = client;
    $('token').value = '';
    $('sign-in').hidden = true;
    $('nav').hidden = false;
    $('who').hidden = false;
    $('nav-submit').hidden = !this.canSubmit;
    fill($('user'), h('span', { id: 'user-name' }, this.me.user), ' ',
      h('span', { id: 'user-role', class: 'role' }, this.me.role));
    this.listen();
    this.route();
  }

  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    this.stream?.abort();
    this.stream = null;
    this.cleanup?.();
    this.cleanup = null;
    this.client = null;
    this.me = null;
    location.hash = '#/';
    this.showSignIn('');
  }

  // One stream for the whole page, resumed after the last event seen when it breaks.
  async listen() {
    const stop = new AbortController();
    this.stream = stop;
    while (!stop.signal.aborted) {
      try {
        const events = this.client.events({ after: this.lastSeq, signal: stop.signal });
        setLive('live');
        for await (const event of events) {
          if (Number.isInteger(event.seq)) this.lastSeq = event.seq;
          for (const fn of [...this.listeners]) fn(event);
        }
      } catch (e) {
        if (stop.signal.aborted) return;
        if (e instanceof MeshError && e.status === 401) return this.signOut();
      }
      setLive('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  route() {
    if (!this.client) return;
    this.cleanup?.();
    this.cleanup = null;
    const path = location.hash.replace(/^#\/?/, '').split('?')[0];  // "jobs?state=failed"
    const [name, ...rest] = path.split('/');
    const pages = {
      '': overviewPage, jobs: rest.length ? jobPage : jobsPage, submit: submitPage,
      peers: peersPage, ledger: ledgerPage, files: filesPage,
    };
    const page = pages[name] ?? overviewPage;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.getAttribute('href') === `#/${name}`);
    }
    const root = fill($('page'));
    root.dataset.page = page === jobPage ? 'job' : name || 'overview';
    this.cleanup = page.render(this, root, decodeURIComponent(rest.join('/'))) ?? null;
  }
}

function setLive(state) {
  const el = $('live');
  el.textContent = state;
  el.className = `live ${state}`;
}

// Who the token belongs to. Nodes without accounts have no /v1/me: their one token is the
// node's own, an admin. The OpenAPI document says whether the route exists, so the page does
// not have to provoke a 404 to find out.
async function whoAmI(client) {
  let hasMe = true;
  try {
    const doc = await client.json('GET', '/v1/openapi.json');
    hasMe = Boolean(doc?.paths?.['/v1/me']);
  } catch {
    // A role that may not read the document: ask /v1/me itself.
  }
  if (hasMe) {
    try {
      return await client.me();
    } catch (e) {
      if (!(e instanceof MeshError && e.status === 404)) throw e;
    }
  }
  return { user: 'admin', role: 'admin', did: null, assumed: true };
}

new App().start();
