// Meridian web UI: a single-page application with Consul's routes
// (/ui/<dc>/services, /ui/<dc>/services/<name>, /ui/<dc>/nodes,
// /ui/<dc>/nodes/<node>, /ui/<dc>/kv/<path>) plus /ui/<dc>/federation.
// Routing uses the History API; every view reads the HTTP API with ?dc=
// and stays current with blocking queries (api.js).

import { request, watch, mapLimit, getToken, setToken, durationMs, decodeValue } from './api.js';

const PAGE_SIZE = 100;
const SECTIONS = [
  ['services', 'Services'],
  ['nodes', 'Nodes'],
  ['kv', 'Key/Value'],
  ['federation', 'Federation'],
];

// h builds an element: h('a', {href: '/x', class: 'y'}, 'text', child, ...).
// Text is always set as text, never parsed as HTML.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function link(href, ...children) {
  return h('a', { href, 'data-link': true }, ...children);
}

function enc(s) {
  return encodeURIComponent(s);
}

// encPath encodes a KV path keeping its slashes.
function encPath(p) {
  return p.split('/').map(enc).join('/');
}

// ---- page state ----

// state.view is the AbortController of the current view: a new route
// aborts every request and loop of the one before.
const state = { view: null, dc: '', section: '', localDC: '', dcs: [], searches: {} };

function setError(key, err, retryMs) {
  state.errors = state.errors || new Map();
  if (err) {
    const retry = retryMs ? ` (retrying in ${Math.ceil(retryMs / 1000)}s)` : '';
    state.errors.set(key, err.message + retry);
  } else {
    state.errors.delete(key);
  }
  const box = document.getElementById('error');
  const msgs = [...state.errors.values()];
  box.textContent = msgs.join('\n');
  box.hidden = msgs.length === 0;
}

function clearErrors() {
  state.errors = new Map();
  setError('', null);
}

// ---- routing ----

function parseRoute(pathname) {
  const rest = pathname.replace(/^\/ui\/?/, '');
  const parts = rest.split('/');
  const dc = decodeURIComponent(parts[0] || '');
  const section = parts[1] || '';
  const tail = parts.slice(2).map(decodeURIComponent).join('/');
  return { dc, section, tail, trailing: pathname.endsWith('/') };
}

export function navigate(href, replace = false) {
  if (replace) history.replaceState(null, '', href); else history.pushState(null, '', href);
  render();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-link]');
  if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => render());
// Leaving the page (or its going into the back-forward cache) ends its
// requests, blocking queries included; coming back renders it afresh.
window.addEventListener('pagehide', () => { if (state.view) state.view.abort(); });
window.addEventListener('pageshow', (ev) => { if (ev.persisted) render(); });

async function localDatacenter() {
  if (state.localDC) return state.localDC;
  try {
    const { data } = await request('/v1/agent/self');
    state.localDC = data && data.Config && data.Config.Datacenter;
  } catch {
    // Without agent:read the token may still read the catalog.
  }
  if (!state.localDC) {
    const { data } = await request('/v1/catalog/datacenters');
    state.localDC = (data && data[0]) || 'dc1';
  }
  return state.localDC;
}

async function render() {
  if (state.view) state.view.abort();
  const ctl = new AbortController();
  state.view = ctl;
  clearErrors();
  const route = parseRoute(location.pathname);
  if (!route.dc || !route.section) {
    try {
      const dc = route.dc || await localDatacenter();
      navigate(`/ui/${enc(dc)}/services`, true);
    } catch (err) {
      setError('start', err);
    }
    return;
  }
  state.dc = route.dc;
  state.section = route.section;
  renderHeader();
  const main = document.getElementById('main');
  main.replaceChildren();
  const view = {
    services: route.tail ? serviceView : servicesView,
    nodes: route.tail ? nodeView : nodesView,
    kv: kvView,
    federation: federationView,
  }[route.section];
  document.title = `${route.section} · ${route.dc} · Meridian`;
  if (!view) {
    main.append(h('h1', null, 'Not found'), h('p', null, `There is no "${route.section}" page.`));
    return;
  }
  watchDatacenters(ctl.signal);
  view(main, route, ctl.signal);
}

// ---- header: sections, datacenter switcher, token ----

function renderHeader() {
  const sections = document.getElementById('sections');
  sections.replaceChildren(...SECTIONS.map(([id, label]) => {
    const a = link(`/ui/${enc(state.dc)}/${id}${id === 'kv' ? '/' : ''}`, label);
    if (id === state.section) a.className = 'current';
    return a;
  }));
  renderDatacenters();
}

function renderDatacenters() {
  const nav = document.getElementById('dcs');
  const dcs = state.dcs.length ? state.dcs : [state.dc];
  nav.replaceChildren(...dcs.map((dc) => {
    const a = link(`/ui/${enc(dc)}/${state.section}${state.section === 'kv' ? '/' : ''}`, dc);
    a.dataset.dc = dc;
    if (dc === state.dc) a.className = 'current';
    return a;
  }));
}

// watchDatacenters refreshes the switcher (the datacenter list is not a
// blocking endpoint; watch polls it).
function watchDatacenters(signal) {
  watch('/v1/catalog/datacenters', {}, signal, (data) => {
    state.dcs = Array.isArray(data) ? data : [];
    renderDatacenters();
  }, (err, retry) => setError('datacenters', err, retry), { pollMs: 10000 });
}

function initToken() {
  const input = document.getElementById('token');
  input.value = getToken();
  input.addEventListener('change', () => {
    setToken(input.value.trim());
    state.localDC = '';
    render();
  });
}

// ---- health helpers ----

const RANK = { passing: 0, warning: 1, critical: 2 };

function worst(checks) {
  let s = 'passing';
  for (const c of checks || []) {
    if ((RANK[c.Status] ?? 2) > RANK[s]) s = RANK[c.Status] === undefined ? 'critical' : c.Status;
  }
  return s;
}

function badge(status, text) {
  return h('span', { class: `badge ${status}` }, text ?? status);
}

function healthBadges(counts) {
  const out = [];
  for (const s of ['passing', 'warning', 'critical']) {
    if (counts[s]) out.push(badge(s, `${counts[s]} ${s}`));
  }
  if (!out.length) out.push(badge('unknown', 'no checks'));
  return out;
}

function tags(list) {
  return (list || []).map((t) => h('span', { class: 'tag' }, t));
}

function checksTable(checks) {
  if (!checks || !checks.length) return h('p', { class: 'muted' }, 'No checks.');
  return h('table', { class: 'checks' },
    h('thead', null, h('tr', null, h('th', null, 'Check'), h('th', null, 'Status'), h('th', null, 'Type'), h('th', null, 'Output'))),
    h('tbody', null, checks.map((c) => h('tr', null,
      h('td', null, c.Name || c.CheckID, h('div', { class: 'muted mono' }, c.CheckID)),
      h('td', null, badge(c.Status in RANK ? c.Status : 'critical', c.Status)),
      h('td', null, c.Type || (c.CheckID === 'serfHealth' ? 'serf' : '')),
      h('td', null, c.Output ? h('pre', { class: 'output' }, c.Output) : h('span', { class: 'muted' }, '—')),
    ))));
}

// ---- list with search and paging ----

// listView renders rows (already filtered by the caller's match) a page at
// a time with a search box; it returns an update(items) function.
function listView(main, { title, placeholder, columns, match, row, empty, beforePage, afterPage }) {
  const key = `${state.dc}/${state.section}`;
  const search = h('input', { type: 'search', placeholder, value: state.searches[key] || '', 'aria-label': 'Search' });
  const count = h('span', { class: 'muted' });
  const tbody = h('tbody');
  const prev = h('button', { type: 'button', disabled: true }, '‹ Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next ›');
  const pageInfo = h('span', { class: 'muted' });
  let items = null;
  let page = 0;
  const draw = () => {
    if (!items) return;
    const q = search.value.trim().toLowerCase();
    state.searches[key] = search.value;
    const shown = q ? items.filter((it) => match(it, q)) : items;
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const slice = shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    count.textContent = q ? `${shown.length} of ${items.length}` : `${items.length} total`;
    pageInfo.textContent = shown.length
      ? `${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + slice.length} of ${shown.length}` : '';
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    if (beforePage) beforePage();
    tbody.replaceChildren(...(slice.length ? slice.map(row)
      : [h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, q ? 'Nothing matches the search.' : empty))]));
    if (afterPage) afterPage(slice);
  };
  search.addEventListener('input', () => { page = 0; draw(); });
  prev.addEventListener('click', () => { page--; draw(); });
  next.addEventListener('click', () => { page++; draw(); });
  main.append(
    h('h1', null, title, ' ', count),
    h('div', { class: 'toolbar' }, search),
    h('table', { class: 'list' }, h('thead', null, h('tr', null, columns.map((c) => h('th', null, c)))), tbody),
    h('div', { class: 'pager' }, prev, next, pageInfo),
  );
  return { update(list) { items = list; draw(); }, redraw: draw };
}

// ---- services ----

function servicesView(main, route, signal) {
  // Instance counts and health come from /v1/health/service/<name> for the
  // rows on the page only, so a datacenter with thousands of services
  // costs one page of requests; they are fetched again when the catalog or
  // any check changes (two blocking queries).
  const summaries = new Map(); // name -> {stamp, instances, counts}
  let stamp = 0;
  let services = {};
  const cells = new Map(); // name -> {inst, health}
  const list = listView(main, {
    title: 'Services',
    placeholder: 'Search services or tags',
    columns: ['Service', 'Instances', 'Health', 'Tags'],
    empty: 'No services.',
    match: (name, q) => name.toLowerCase().includes(q) || (services[name] || []).some((t) => t.toLowerCase().includes(q)),
    row: (name) => {
      const inst = h('td', { class: 'instances' }, '…');
      const health = h('td', { class: 'health' }, '…');
      cells.set(name, { inst, health });
      fillSummary(name);
      return h('tr', { 'data-service': name },
        h('td', null, link(`/ui/${enc(state.dc)}/services/${enc(name)}`, name)), inst, health, h('td', null, tags(services[name])));
    },
    beforePage: () => cells.clear(),
    afterPage: (names) => loadSummaries(names),
  });
  const fillSummary = (name) => {
    const s = summaries.get(name);
    const c = cells.get(name);
    if (!s || !c) return;
    c.inst.textContent = String(s.instances);
    c.health.replaceChildren(...healthBadges(s.counts));
  };
  const pending = new Set(); // name@stamp being fetched
  const loadSummaries = async (names) => {
    const want = stamp;
    const todo = names.filter((n) => (!summaries.has(n) || summaries.get(n).stamp !== want) && !pending.has(`${n}@${want}`));
    todo.forEach((n) => pending.add(`${n}@${want}`));
    await mapLimit(todo, 4, async (name) => {
      // A row no longer on the page (search, paging) needs no fetch.
      if (signal.aborted || !cells.has(name)) {
        pending.delete(`${name}@${want}`);
        return;
      }
      try {
        const { data } = await request(`/v1/health/service/${enc(name)}`, { dc: state.dc }, { signal });
        const counts = { passing: 0, warning: 0, critical: 0 };
        for (const e of data || []) counts[worst(e.Checks)]++;
        summaries.set(name, { stamp: want, instances: (data || []).length, counts });
        setError(`svc:${name}`, null);
        fillSummary(name);
      } catch (err) {
        if (!signal.aborted) setError(`svc:${name}`, err);
      } finally {
        pending.delete(`${name}@${want}`);
      }
    });
  };
  const changed = () => {
    stamp++;
    list.update(Object.keys(services).sort());
  };
  watch('/v1/catalog/services', { dc: route.dc }, signal, (data) => {
    services = data || {};
    changed();
  }, (err, retry) => setError('services', err, retry));
  watch('/v1/health/state/any', { dc: route.dc }, signal, () => {
    if (Object.keys(services).length) changed();
  }, (err, retry) => setError('checks', err, retry));
}

function serviceView(main, route, signal) {
  const name = route.tail;
  const body = h('div');
  main.append(
    h('div', { class: 'crumbs' }, link(`/ui/${enc(route.dc)}/services`, 'Services'), h('span', null, '›')),
    h('h1', null, name), body);
  watch(`/v1/health/service/${enc(name)}`, { dc: route.dc }, signal, (data) => {
    const entries = data || [];
    if (!entries.length) {
      body.replaceChildren(h('p', { class: 'muted' }, 'This service has no instances in ', route.dc, '.'));
      return;
    }
    const counts = { passing: 0, warning: 0, critical: 0 };
    for (const e of entries) counts[worst(e.Checks)]++;
    body.replaceChildren(
      h('p', null, `${entries.length} instance${entries.length === 1 ? '' : 's'} `, healthBadges(counts)),
      ...entries.map((e) => {
        const s = e.Service;
        const addr = s.Address || e.Node.Address;
        return h('section', { class: 'card instance', 'data-instance': s.ID },
          h('h2', null, s.ID, ' ', badge(worst(e.Checks))),
          h('dl', { class: 'props' },
            h('dt', null, 'Node'), h('dd', null, link(`/ui/${enc(route.dc)}/nodes/${enc(e.Node.Node)}`, e.Node.Node)),
            h('dt', null, 'Address'), h('dd', { class: 'mono' }, s.Port ? `${addr}:${s.Port}` : addr),
            h('dt', null, 'Tags'), h('dd', null, (s.Tags || []).length ? tags(s.Tags) : '—'),
            Object.entries(s.Meta || {}).map(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, v)])),
          h('h2', null, 'Checks'), checksTable(e.Checks));
      }));
  }, (err, retry) => setError('service', err, retry));
}

// ---- nodes ----

function nodesView(main, route, signal) {
  let nodes = [];
  let nodeChecks = new Map(); // node -> checks
  const list = listView(main, {
    title: 'Nodes',
    placeholder: 'Search nodes or addresses',
    columns: ['Node', 'Address', 'Health', 'Datacenter'],
    empty: 'No nodes.',
    match: (n, q) => n.Node.toLowerCase().includes(q) || (n.Address || '').includes(q),
    row: (n) => {
      const checks = nodeChecks.get(n.Node) || [];
      const counts = { passing: 0, warning: 0, critical: 0 };
      for (const c of checks) counts[c.Status in RANK ? c.Status : 'critical']++;
      return h('tr', { 'data-node': n.Node },
        h('td', null, link(`/ui/${enc(route.dc)}/nodes/${enc(n.Node)}`, n.Node)),
        h('td', { class: 'mono' }, n.Address),
        h('td', null, healthBadges(counts)),
        h('td', null, n.Datacenter || route.dc));
    },
  });
  watch('/v1/catalog/nodes', { dc: route.dc }, signal, (data) => {
    nodes = (data || []).slice().sort((a, b) => a.Node.localeCompare(b.Node));
    list.update(nodes);
  }, (err, retry) => setError('nodes', err, retry));
  watch('/v1/health/state/any', { dc: route.dc }, signal, (data) => {
    nodeChecks = new Map();
    for (const c of data || []) {
      if (c.ServiceID) continue;
      if (!nodeChecks.has(c.Node)) nodeChecks.set(c.Node, []);
      nodeChecks.get(c.Node).push(c);
    }
    list.redraw();
  }, (err, retry) => setError('checks', err, retry));
}

function nodeView(main, route, signal) {
  const name = route.tail;
  const info = h('div');
  const services = h('div');
  const checks = h('div');
  main.append(
    h('div', { class: 'crumbs' }, link(`/ui/${enc(route.dc)}/nodes`, 'Nodes'), h('span', null, '›')),
    h('h1', null, name), info,
    h('h2', null, 'Services'), services,
    h('h2', null, 'Checks'), checks);
  watch(`/v1/catalog/node/${enc(name)}`, { dc: route.dc }, signal, (data) => {
    if (!data || !data.Node) {
      info.replaceChildren(h('p', { class: 'muted' }, `No node ${name} in ${route.dc}.`));
      services.replaceChildren();
      return;
    }
    const n = data.Node;
    info.replaceChildren(h('div', { class: 'card' }, h('dl', { class: 'props' },
      h('dt', null, 'Address'), h('dd', { class: 'mono' }, n.Address),
      h('dt', null, 'ID'), h('dd', { class: 'mono' }, n.ID || '—'),
      h('dt', null, 'Datacenter'), h('dd', null, n.Datacenter || route.dc),
      Object.entries(n.Meta || {}).map(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, v)]))));
    const svcs = Object.values(data.Services || {}).sort((a, b) => a.ID.localeCompare(b.ID));
    services.replaceChildren(svcs.length ? h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Service'), h('th', null, 'ID'), h('th', null, 'Port'), h('th', null, 'Tags'))),
      h('tbody', null, svcs.map((s) => h('tr', null,
        h('td', null, link(`/ui/${enc(route.dc)}/services/${enc(s.Service)}`, s.Service)),
        h('td', { class: 'mono' }, s.ID), h('td', null, s.Port || '—'), h('td', null, tags(s.Tags))))))
      : h('p', { class: 'muted' }, 'No services.'));
  }, (err, retry) => setError('node', err, retry));
  watch(`/v1/health/node/${enc(name)}`, { dc: route.dc }, signal, (data) => {
    checks.replaceChildren(checksTable(data || []));
  }, (err, retry) => setError('node-checks', err, retry));
}

// ---- key/value ----

function kvView(main, route, signal) {
  const path = route.tail; // a folder's path ends with '/'
  if (path === '' || path.endsWith('/')) kvFolder(main, route.dc, path, signal);
  else kvKey(main, route.dc, path, signal);
}

function kvCrumbs(dc, path) {
  const parts = path.split('/').filter(Boolean);
  const out = [link(`/ui/${enc(dc)}/kv/`, 'Key/Value')];
  let acc = '';
  parts.forEach((p, i) => {
    acc += p + '/';
    const isLast = i === parts.length - 1;
    out.push(h('span', null, '›'));
    out.push(isLast && !path.endsWith('/') ? h('span', null, p) : link(`/ui/${enc(dc)}/kv/${encPath(acc)}`, p));
  });
  return h('div', { class: 'crumbs' }, out);
}

function kvFolder(main, dc, path, signal) {
  const keyInput = h('input', { type: 'text', name: 'key', placeholder: 'key or folder/key', required: true, 'aria-label': 'New key' });
  const valueInput = h('textarea', { name: 'value', placeholder: 'value', 'aria-label': 'New value' });
  const form = h('form', { class: 'kv card', id: 'kv-create' },
    h('strong', null, 'Create a key in ', path || '/'),
    keyInput, valueInput,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = keyInput.value.trim().replace(/^\/+/, '');
    if (!key) return;
    try {
      await request(`/v1/kv/${encPath(path + key)}`, { dc }, { method: 'PUT', body: valueInput.value });
      setError('kv-write', null);
      keyInput.value = '';
      valueInput.value = '';
      if (key.endsWith('/')) navigate(`/ui/${enc(dc)}/kv/${encPath(path + key)}`);
    } catch (err) {
      setError('kv-write', err);
    }
  });
  const list = listView(main, {
    title: path ? path : 'Key/Value',
    placeholder: 'Search keys',
    columns: ['Key', 'Kind'],
    empty: 'This folder is empty.',
    match: (k, q) => k.toLowerCase().includes(q),
    row: (k) => {
      const short = k.slice(path.length);
      return h('tr', { 'data-key': k },
        h('td', null, link(`/ui/${enc(dc)}/kv/${encPath(k)}`, short)),
        h('td', { class: 'muted' }, k.endsWith('/') ? 'folder' : 'key'));
    },
  });
  main.prepend(kvCrumbs(dc, path));
  main.append(form);
  watch(`/v1/kv/${encPath(path)}`, { dc, keys: true, separator: '/' }, signal, (data) => {
    list.update((data || []).filter((k) => k !== path).sort());
  }, (err, retry) => setError('kv', err, retry), { allow404: true });
}

function kvKey(main, dc, path, signal) {
  const meta = h('div', { class: 'muted' });
  const value = h('textarea', { name: 'value', 'aria-label': 'Value' });
  const note = h('span', { class: 'muted status' });
  let dirty = false;
  let modifyIndex = 0;
  value.addEventListener('input', () => { dirty = true; });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
  const form = h('form', { class: 'kv card', id: 'kv-edit' }, meta, value, h('div', { class: 'row' }, save, del, note));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      // cas= refuses the write if someone changed the key since it was read.
      const { data } = await request(`/v1/kv/${encPath(path)}`, { dc, cas: modifyIndex || undefined },
        { method: 'PUT', body: value.value });
      if (data === false) throw new Error(`The key ${path} changed on the server since it was loaded; reload it before saving.`);
      dirty = false;
      note.textContent = 'Saved.';
      setError('kv-write', null);
    } catch (err) {
      setError('kv-write', err);
    }
  });
  del.addEventListener('click', async () => {
    if (!confirm(`Delete ${path}?`)) return;
    try {
      await request(`/v1/kv/${encPath(path)}`, { dc }, { method: 'DELETE' });
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
      navigate(`/ui/${enc(dc)}/kv/${encPath(parent)}`);
    } catch (err) {
      setError('kv-write', err);
    }
  });
  main.append(kvCrumbs(dc, path), h('h1', null, path), form);
  watch(`/v1/kv/${encPath(path)}`, { dc }, signal, (data) => {
    const e = data && data[0];
    if (!e) {
      meta.textContent = 'This key does not exist (yet): saving creates it.';
      modifyIndex = 0;
      return;
    }
    meta.textContent = `Flags ${e.Flags} · created at index ${e.CreateIndex} · modified at index ${e.ModifyIndex}` +
      (e.Session ? ` · locked by session ${e.Session}` : '');
    if (!dirty) {
      value.value = decodeValue(e.Value);
      modifyIndex = e.ModifyIndex;
    } else if (e.ModifyIndex !== modifyIndex) {
      note.textContent = 'Changed on the server while you edit.';
    }
  }, (err, retry) => setError('kv', err, retry), { allow404: true });
}

// ---- federation ----

function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (isNaN(d)) return t;
  const ago = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  return `${ago}s ago`;
}

function federationView(main, route, signal) {
  const tbody = h('tbody');
  main.append(
    h('h1', null, 'Federation'),
    h('p', { class: 'muted' }, `Every datacenter as the servers of ${route.dc} see it (they probe each remote datacenter every few seconds).`),
    h('table', { class: 'federation' },
      h('thead', null, h('tr', null, ['Datacenter', 'Reachable', 'Leader', 'Servers alive', 'Median RTT', 'Last contact', 'Last error'].map((c) => h('th', null, c)))),
      tbody));
  watch('/v1/operator/federation', { dc: route.dc }, signal, (data) => {
    const dcs = (data || []).slice().sort((a, b) => a.Datacenter.localeCompare(b.Datacenter));
    tbody.replaceChildren(...dcs.map((d) => {
      const rtt = durationMs(d.MedianRTT);
      return h('tr', { 'data-dc': d.Datacenter },
        h('td', null, link(`/ui/${enc(d.Datacenter)}/services`, d.Datacenter), d.Local ? h('span', { class: 'muted' }, ' (this one)') : null),
        h('td', null, d.Local ? badge('passing', 'local') : (d.Reachable ? badge('passing', 'reachable') : badge('critical', 'unreachable'))),
        h('td', null, d.LeaderKnown ? badge('passing', 'known') : badge('critical', 'none')),
        h('td', null, `${d.ServersAlive} of ${d.ServersKnown}`),
        h('td', { class: 'rtt mono' }, isNaN(rtt) || (d.Local && rtt === 0) ? '—' : `${rtt.toFixed(rtt < 10 ? 2 : 1)} ms`),
        h('td', null, d.Local ? '—' : fmtTime(d.LastContact)),
        h('td', null, d.LastError ? h('span', { class: 'badge critical' }, d.LastError) : '—',
          d.LastError && d.LastErrorTime ? h('div', { class: 'muted' }, fmtTime(d.LastErrorTime)) : null));
    }));
  }, (err, retry) => setError('federation', err, retry), { pollMs: 3000 });
}

initToken();
render();
