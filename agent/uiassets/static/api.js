// The UI's access to the HTTP API: one request function that adds ?dc=
// and the ACL token, and watch(), which keeps a view current with
// blocking queries (?index=&wait=), backing off on errors.

const TOKEN_KEY = 'meridian-token';

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage refused: the token lasts for this page only */ }
}

// APIError is an HTTP answer other than 2xx, with the server's text.
export class APIError extends Error {
  constructor(method, url, status, text) {
    super(`${method} ${url}: ${status}${text ? ' ' + text.trim() : ''}`);
    this.status = status;
  }
}

// request calls the API: path is /v1/..., params a map of query parameters
// (undefined values are left out). It resolves to {data, index, status};
// a 404 resolves with data null when opts.allow404 is set (the KV store
// answers 404 for an absent key or an empty folder).
export async function request(path, params = {}, opts = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === false) continue;
    q.set(k, v === true ? '' : String(v));
  }
  const qs = q.toString().replace(/=(&|$)/g, '$1');
  const url = path + (qs ? '?' + qs : '');
  const headers = {};
  const token = getToken();
  if (token) headers['X-Consul-Token'] = token;
  const method = opts.method || 'GET';
  let body = opts.body;
  if (body !== undefined && typeof body !== 'string') body = JSON.stringify(body);
  const resp = await fetch(url, { method, headers, body, signal: opts.signal, cache: 'no-store' });
  const index = Number(resp.headers.get('X-Consul-Index') || 0);
  if (resp.status === 404 && opts.allow404) {
    await resp.text();
    return { data: null, index, status: 404 };
  }
  const text = await resp.text();
  if (!resp.ok) throw new APIError(method, url, resp.status, text);
  let data = null;
  if (text) {
    const type = resp.headers.get('Content-Type') || '';
    data = type.includes('json') ? JSON.parse(text) : text;
  }
  return { data, index, status: resp.status };
}

// sleep waits ms, or less if signal aborts.
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// WAIT is how long each blocking query may wait on the server.
const WAIT = '55s';
const MAX_BACKOFF = 30000;

// watch runs a blocking query until signal aborts: onData(data, index)
// after every answer whose index moved (and the first), onError(err,
// retryMs) after a failure, onError(null) once it works again.
//
// A browser keeps about six connections per host, and each blocking query
// holds one: a hidden tab therefore lets its queries go (and asks again
// when shown), so that a few open tabs cannot starve each other.
export async function watch(path, params, signal, onData, onError, opts = {}) {
  let index = 0;
  let failures = 0;
  while (!signal.aborted) {
    await visible(signal);
    if (signal.aborted) return;
    const req = new AbortController();
    const stop = () => req.abort();
    const onHide = () => { if (document.hidden) req.abort(); };
    signal.addEventListener('abort', stop, { once: true });
    document.addEventListener('visibilitychange', onHide);
    try {
      const p = { ...params };
      if (index > 0) { p.index = index; p.wait = WAIT; }
      let r;
      try {
        r = await request(path, p, { signal: req.signal, allow404: opts.allow404 });
      } catch (err) {
        if (req.signal.aborted && !signal.aborted) continue; // hidden: ask again when shown
        throw err;
      }
      if (signal.aborted) return;
      if (failures > 0) onError(null);
      failures = 0;
      // An index that goes backwards (a new leader, a restore) starts over,
      // as Consul's blocking-query guidance says.
      const next = r.index > 0 && r.index >= index ? r.index : 0;
      if (index === 0 || next !== index) onData(r.data, r.index);
      if (r.index === 0) {
        // Not a blocking endpoint: poll.
        await sleep(opts.pollMs || 3000, signal);
      }
      index = next;
    } catch (err) {
      if (signal.aborted) return;
      failures++;
      const delay = Math.min(MAX_BACKOFF, 1000 * 2 ** (failures - 1)) * (0.8 + Math.random() * 0.4);
      onError(err, Math.round(delay));
      index = 0;
      await sleep(delay, signal);
    } finally {
      signal.removeEventListener('abort', stop);
      document.removeEventListener('visibilitychange', onHide);
    }
  }
}

// visible resolves when the page is visible (at once if it is), or when
// signal aborts.
function visible(signal) {
  if (!document.hidden) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (document.hidden && !signal.aborted) return;
      document.removeEventListener('visibilitychange', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    document.addEventListener('visibilitychange', done);
    signal.addEventListener('abort', done);
  });
}

// mapLimit runs fn over items with at most n at a time (browsers keep few
// connections per host; blocking queries hold some of them).
export async function mapLimit(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// durationMs reads a Go duration string ("1.5ms", "2m3s") as milliseconds.
export function durationMs(d) {
  if (typeof d === 'number') return d / 1e6;
  if (typeof d !== 'string' || d === '') return NaN;
  if (d === '0' || d === '0s') return 0;
  const unit = { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ns: 1e-6 };
  let total = 0;
  let rest = d.replace(/^[-+]/, '');
  const re = /^(\d+(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest) {
    const m = re.exec(rest);
    if (!m) return NaN;
    total += Number(m[1]) * unit[m[2]];
    rest = rest.slice(m[0].length);
  }
  return d.startsWith('-') ? -total : total;
}

// decodeValue turns a KV entry's base64 Value into text.
export function decodeValue(v) {
  if (!v) return '';
  const bin = atob(v);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
