// meshd's mesh view: one Server-Sent Events stream (/ui/events) brings the graph, the proxies' sync
// state, the config problems and the push timeline; each arrival re-renders its own panel. No framework,
// no other origin: the page works offline and paints from strings (one innerHTML per panel).
'use strict';

const state = { graph: null, proxies: [], config: null, timeline: [], filter: '' };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// ---- graph: three columns (gateways → VirtualServices → services with their subsets) ----
const COL = { gateway: { x: 16, w: 230 }, route: { x: 316, w: 250 }, service: { x: 660, w: 300 } };
const NODE_H = 42;
const ROW_H = 20;
const GAP = 12;

function visibleGraph(g, q) {
  if (!q) return g;
  const has = (s) => String(s).toLowerCase().includes(q);
  const services = new Set(g.services.filter((s) => has(s.id) || has(s.namespace)).map((s) => s.id));
  const routes = new Set(g.routes.filter((r) => has(r.id) || r.hosts.some(has) || g.edges.some((e) => e.from === r.id && services.has(e.to))).map((r) => r.id));
  for (const e of g.edges) if (routes.has(e.from) && !e.to.startsWith('vs:')) services.add(e.to);
  const gateways = new Set(g.gateways.filter((x) => has(x.id) || g.edges.some((e) => e.from === x.id && routes.has(e.to))).map((x) => x.id));
  return {
    ...g,
    gateways: g.gateways.filter((x) => gateways.has(x.id)),
    routes: g.routes.filter((r) => routes.has(r.id)),
    services: g.services.filter((s) => services.has(s.id)),
    edges: g.edges.filter((e) => (gateways.has(e.from) || routes.has(e.from)) && (routes.has(e.to) || services.has(e.to))),
  };
}

function layout(g) {
  const pos = new Map();
  // without gateways their column is left out
  const shift = g.gateways.length ? 0 : COL.route.x - COL.gateway.x;
  const col = (c) => ({ x: c.x - shift, w: c.w });
  let y = GAP;
  for (const s of g.services) {
    const h = NODE_H + s.subsets.length * ROW_H + (s.subsets.length ? 6 : 0);
    pos.set(s.id, { ...col(COL.service), y, h });
    y += h + GAP;
  }
  let height = y;
  // each route as close as it can get to its first destination, in that order
  const targetY = new Map();
  const firstTarget = (id) => targetY.get(id) ?? 0;
  const note = (e) => { if (!targetY.has(e.from) && pos.has(e.to)) targetY.set(e.from, pos.get(e.to).y); };
  for (const e of g.edges) note(e);
  y = GAP;
  for (const r of [...g.routes].sort((a, b) => firstTarget(a.id) - firstTarget(b.id))) {
    y = Math.max(y, firstTarget(r.id));
    pos.set(r.id, { ...col(COL.route), y, h: NODE_H });
    y += NODE_H + GAP;
  }
  height = Math.max(height, y);
  for (const e of g.edges) note(e); // gateways → routes, now that routes have their places
  y = GAP;
  for (const gw of [...g.gateways].sort((a, b) => firstTarget(a.id) - firstTarget(b.id))) {
    y = Math.max(y, firstTarget(gw.id));
    pos.set(gw.id, { ...col(COL.gateway), y, h: NODE_H });
    y += NODE_H + GAP;
  }
  return { pos, height: Math.max(height, y) + GAP, width: COL.service.x - shift + COL.service.w + 16 };
}

// The graph is laid out whole but drawn by window: only what is within the scrolled view (and a margin)
// is in the SVG, redrawn on scroll, so a 1000-service mesh costs the browser what a screenful does.
const MARGIN = 600;
let drawn = null; // { g, pos, svg, servicesById }

function renderGraph() {
  const box = $('graph');
  const g0 = state.graph;
  if (!g0) return;
  const g = visibleGraph(g0, state.filter);
  if (g.services.length + g.routes.length + g.gateways.length === 0) {
    drawn = null;
    box.innerHTML = `<p class="empty">${state.filter ? 'nothing matches the filter' : 'no services in the mesh'}</p>`;
    return;
  }
  const { pos, height, width } = layout(g);
  let svg = box.querySelector('svg');
  if (!svg) {
    box.innerHTML = '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="service graph"></svg>';
    svg = box.querySelector('svg');
  }
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  drawn = { g, pos, svg, servicesById: new Map(g.services.map((x) => [x.id, x])) };
  drawWindow();
}

function drawWindow() {
  if (!drawn) return;
  const { g, pos, svg, servicesById } = drawn;
  const box = $('graph');
  const top = box.scrollTop - MARGIN;
  const bottom = box.scrollTop + box.clientHeight + MARGIN;
  const inView = (y0, y1) => y1 >= top && y0 <= bottom;
  const out = [];
  const subsetY = (s, name) => {
    const i = s.subsets.findIndex((x) => x.name === name);
    return i < 0 ? undefined : NODE_H + i * ROW_H + ROW_H / 2;
  };
  for (const e of g.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const svc = servicesById.get(e.to);
    const dy = (svc && e.subset !== undefined && subsetY(svc, e.subset)) || NODE_H / 2;
    const x1 = a.x + a.w, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + dy;
    if (!inView(Math.min(y1, y2), Math.max(y1, y2))) continue;
    const mx = (x1 + x2) / 2;
    const bind = e.from.startsWith('gateway:');
    const cls = `edge${bind ? ' bind' : ''}${e.weight === 0 ? ' zero' : ''}`;
    // the label sits a little past the middle of the curve, where the edges of one route and of routes to one subset have parted
    const t = 0.55, u = 1 - t;
    const lx = u * u * u * x1 + 3 * u * u * t * mx + 3 * u * t * t * mx + t * t * t * x2;
    const ly = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
    const label = e.weight !== undefined ? `${e.weight}%` : '';
    out.push(`<g class="${cls}" data-from="${esc(e.from)}" data-to="${esc(e.to)}"${e.subset !== undefined ? ` data-subset="${esc(e.subset)}"` : ''}${e.weight !== undefined ? ` data-weight="${e.weight}"` : ''}>`,
      `<title>${esc(`${e.from} → ${e.to}${e.subset ? ` subset ${e.subset}` : ''}${e.rule ? ` (${e.rule})` : ''}${label ? ` ${label}` : ''}`)}</title>`,
      `<path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}"/>`,
      label ? `<text class="weight" x="${lx.toFixed(1)}" y="${(ly - 3).toFixed(1)}" text-anchor="middle">${label}</text>` : '', '</g>');
  }
  const node = (kind, id, p, title, sub, extra = '', cls = '') =>
    `<g class="node ${kind}${cls}" data-id="${esc(id)}" transform="translate(${p.x},${p.y})"><rect class="box" width="${p.w}" height="${p.h}" rx="5"/>` +
    `<text class="title" x="8" y="17">${esc(clip(title, 36))}</text><text class="sub" x="8" y="33">${esc(clip(sub, 44))}</text>${extra}<title>${esc(id)}</title></g>`;
  const visible = (id) => {
    const p = pos.get(id);
    return p && inView(p.y, p.y + p.h) ? p : undefined;
  };
  for (const gw of g.gateways) {
    const p = visible(gw.id);
    if (p) out.push(node('gateway', gw.id, p, `⇥ ${gw.namespace}/${gw.name}`, `${gw.hosts.join(', ') || 'no hosts'} · ${gw.ports.map((x) => `:${x}`).join(' ')}`));
  }
  for (const r of g.routes) {
    const p = visible(r.id);
    if (p) out.push(node('route', r.id, p, `${r.namespace}/${r.name}`, `${r.hosts.join(', ')}${r.mesh ? '' : ' (gateways only)'}`));
  }
  for (const s of g.services) {
    const p = visible(s.id);
    if (!p) continue;
    const rows = s.subsets.map((x, i) =>
      `<g class="subset" data-subset="${esc(x.name)}" transform="translate(8,${NODE_H + i * ROW_H})"><rect width="${p.w - 16}" height="${ROW_H - 3}" rx="3"/>` +
      `<text x="6" y="13">${esc(clip(`${x.name}  ${Object.entries(x.labels).map(([k, v]) => `${k}=${v}`).join(',')}`, 44))}</text></g>`).join('');
    const sub = s.unknown ? 'not in the registry' : `${s.ports.map((x) => `:${x}`).join(' ')} · ${s.endpoints} endpoint${s.endpoints === 1 ? '' : 's'}${s.versions.length ? ` · ${s.versions.join(', ')}` : ''}${s.serviceEntry ? ' · ServiceEntry' : ''}`;
    out.push(node('service', s.id, p, s.unknown ? s.id : `${s.name}.${s.namespace}`, sub, rows, s.unknown ? ' unknown' : ''));
  }
  svg.innerHTML = out.join('');
}

let windowQueued = false;
const queueWindow = () => {
  if (windowQueued) return;
  windowQueued = true;
  requestAnimationFrame(() => { windowQueued = false; drawWindow(); });
};
$('graph').addEventListener('scroll', queueWindow, { passive: true });
window.addEventListener('resize', queueWindow);

const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

// ---- proxies, config, timeline ----
const TYPES = ['CDS', 'LDS', 'EDS', 'RDS'];

function renderProxies() {
  const rows = state.proxies.map((p) => {
    const cells = TYPES.map((t) => {
      const x = p.types[t];
      return `<td>${x ? `<span class="badge ${x.state}" title="${esc(x.version)}">${x.state === 'nack' ? 'NACK' : x.state}</span>` : ''}</td>`;
    }).join('');
    const nacks = Object.entries(p.types).filter(([, x]) => x.nack).map(([t, x]) => `<span class="nack-text">${esc(t)} NACK: ${esc(x.nack)}</span>`).join('');
    return `<tr class="state-${p.state}" data-proxy="${esc(p.id)}" data-state="${p.state}"><td class="id">${esc(p.id)}${nacks}</td><td>${esc(p.generator)}</td>${cells}</tr>`;
  });
  document.querySelector('#proxies tbody').innerHTML = rows.join('');
  $('no-proxies').hidden = state.proxies.length > 0;
  const nack = state.proxies.filter((p) => p.state === 'nack').length;
  $('proxy-count').textContent = `${state.proxies.length} connected${nack ? `, ${nack} rejecting config` : ''}`;
  $('proxy-ids').innerHTML = state.proxies.map((p) => `<option value="${esc(p.id)}">`).join('');
  renderSummary();
}

function renderConfig() {
  const c = state.config;
  if (!c) return;
  $('config-kinds').textContent = Object.entries(c.counts).map(([k, n]) => `${n} ${k}`).join(' · ') + (c.analysedRevision === undefined ? ' · analysing…' : '');
  const rows = c.problems.map((p) => {
    const msgs = [
      ...(p.refused ?? []).map((m) => `<span class="msg refused">refused: ${esc(m)}</span>`),
      ...(p.analysis ?? []).map((m) => `<span class="msg ${esc(m.level)}">${esc(m.code)} ${esc(m.level)}: ${esc(m.message)}</span>`),
    ].join('');
    return `<tr data-object="${esc(`${p.kind}/${p.namespace}/${p.name}`)}"><td class="id">${esc(p.kind)} ${esc(p.namespace ? `${p.namespace}/` : '')}${esc(p.name)}</td><td class="id">${esc(p.origin)}</td><td>${msgs}</td></tr>`;
  });
  if (c.more) rows.push(`<tr><td colspan="3" class="muted">… and ${c.more} more</td></tr>`);
  document.querySelector('#config tbody').innerHTML = rows.join('');
  $('no-problems').hidden = c.problems.length > 0;
  $('config-count').textContent = `revision ${c.revision}`;
}

function timelineText(e) {
  const who = e.proxies ? `${e.proxies.join(', ')}${e.count > e.proxies.length ? ` and ${e.count - e.proxies.length} more` : ''}` : '';
  switch (e.kind) {
    case 'snapshot': return `snapshot ${e.version} (${e.count} change${e.count === 1 ? '' : 's'}; ${e.detail})`;
    case 'push': return `${e.type} ${e.version} sent to ${who}`;
    case 'ack': return `${e.type} ${e.version} ACKed by ${who}`;
    case 'nack': return `${e.type} NACK from ${who}: ${e.detail}`;
    case 'connect': return `connected: ${who}`;
    case 'disconnect': return `disconnected: ${who}`;
    default: return e.kind;
  }
}

function renderTimeline() {
  $('timeline').innerHTML = state.timeline.slice(-200).reverse().map((e) =>
    `<li class="${e.kind}" data-kind="${e.kind}"><time datetime="${esc(e.at)}">${esc(e.at.slice(11, 23))}</time>${esc(timelineText(e))}</li>`).join('');
}

function renderSummary() {
  const g = state.graph;
  $('summary').textContent = g ? `snapshot ${g.version} · ${g.services.length} services · ${g.routes.length} VirtualServices · ${g.gateways.length} gateways · ${state.proxies.length} proxies` : '';
}

// ---- live updates ----
function connect() {
  const es = new EventSource('/ui/events');
  const live = $('live');
  es.onopen = () => { live.textContent = 'live'; live.classList.remove('off'); };
  es.onerror = () => { live.textContent = 'reconnecting…'; live.classList.add('off'); };
  es.addEventListener('graph', (m) => {
    performance.mark('graph-received');
    state.graph = JSON.parse(m.data);
    renderGraph();
    renderSummary();
    performance.mark('graph-drawn');
  });
  es.addEventListener('proxies', (m) => { state.proxies = JSON.parse(m.data); renderProxies(); });
  es.addEventListener('config', (m) => { state.config = JSON.parse(m.data); renderConfig(); });
  es.addEventListener('timeline', (m) => {
    const entries = JSON.parse(m.data);
    const last = state.timeline.length ? state.timeline[state.timeline.length - 1].seq : 0;
    state.timeline.push(...entries.filter((e) => e.seq > last));
    if (state.timeline.length > 200) state.timeline.splice(0, state.timeline.length - 200);
    renderTimeline();
  });
}

let filterTimer;
$('filter').addEventListener('input', (ev) => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => { state.filter = ev.target.value.trim().toLowerCase(); renderGraph(); }, 150);
});

$('explain').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const out = $('explain-out');
  out.textContent = 'explaining…';
  const body = {
    proxy: String(f.get('proxy')).trim(),
    request: String(f.get('request')).trim(),
    headers: String(f.get('headers') || '').split('\n').map((l) => l.trim()).filter(Boolean),
    ...(String(f.get('method') || '').trim() ? { method: String(f.get('method')).trim() } : {}),
  };
  try {
    const res = await fetch('/ui/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = await res.json();
    out.textContent = answer.text ?? `error: ${answer.error}`;
    out.classList.toggle('muted', !res.ok);
  } catch (err) {
    out.textContent = `error: ${err.message}`;
  }
});

connect();
