// cfsim flow studio: a live sequence diagram of the broker's messages (GET /events, Server-Sent
// Events) and the state behind them (GET /state, every second). Hand-written, no framework.
// HTTP exchanges the components report come as events too (`m.http` set): a request row
// `POST /apps`, its response row `↩ 201 Created`.
'use strict';

const ROW = 30, LEFT = 96, MAX_KEPT = 5000, FOLD_REACH = 8;
let COL = 150;
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

const ui = {
  all: [],            // every event received (bounded), in order
  participants: [],   // lifeline names in display order
  x: new Map(),       // participant -> x
  rows: [],           // rendered rows: { el, key, count, msg }
  paused: false,
  pending: 0,
  selected: null,
  lagged: 0,
  dropped: 0,
};

// ---- participants -------------------------------------------------------------------------

const ORDER = [
  [/^(vmc|client)/, 0], [/^router/, 1], [/^cloud_?controller|^cc\b/, 2], [/stager/, 3],
  [/^dea/, 4], [/^health_?manager|^hm\b/, 5], [/provisioner|gateway/, 6], [/node/, 7],
];
const COLORS = ['#9aa7c2', '#4dd0c8', '#6cb6ff', '#7dd3fc', '#f5b84d', '#ff7e8f', '#b18cff', '#d98cff', '#a3b1cc'];

function rank(name) {
  for (const [re, r] of ORDER) if (re.test(name)) return r;
  return 8;
}
function color(name) { return name === '(nobody)' ? '#5b6783' : COLORS[rank(name)]; }
function indexOf(name) { const m = /-(\d+)$/.exec(name); return m ? Number(m[1]) : 0; }

function ensureParticipants(names) {
  let added = false;
  for (const n of names) {
    if (!n || ui.participants.includes(n)) continue;
    ui.participants.push(n);
    added = true;
  }
  if (!added) return false;
  const first = new Map(ui.participants.map((n, i) => [n, i]));
  ui.participants.sort((a, b) => {
    const ra = rank(a), rb = rank(b);
    if (ra !== rb) return ra - rb;
    if (ra === 8) return first.get(a) - first.get(b);
    return indexOf(a) - indexOf(b) || a.localeCompare(b);
  });
  layout();
  drawHeads();
  fillComponentFilter();
  return true;
}

// Lifelines share the pane's width (within sensible bounds); the diagram scrolls sideways
// only when there are many.
function layout() {
  const room = $('scroll').clientWidth - LEFT - 24;
  const n = Math.max(1, ui.participants.length);
  COL = Math.max(120, Math.min(190, Math.floor(room / n)));
  ui.participants.forEach((p, i) => ui.x.set(p, LEFT + COL / 2 + i * COL));
}

function namesOf(m) {
  return [m.sender || '(unknown)', ...m.receivers.map((r) => r.name || '(unknown)')];
}

function drawHeads() {
  const heads = $('heads');
  heads.textContent = '';
  const inner = document.createElement('div');
  inner.id = 'heads-inner';
  inner.style.position = 'relative';
  for (const n of ui.participants) {
    const d = document.createElement('div');
    d.className = 'head';
    d.textContent = n;
    d.style.left = ui.x.get(n) + 'px';
    d.style.background = color(n);
    d.style.maxWidth = (COL - 8) + 'px';
    d.title = n;
    inner.appendChild(d);
  }
  heads.appendChild(inner);
  syncHeads();
}

function syncHeads() {
  const inner = $('heads-inner');
  if (inner) inner.style.transform = `translateX(${-$('scroll').scrollLeft}px)`;
}

function fillComponentFilter() {
  const sel = $('filter-component');
  const current = sel.value;
  sel.textContent = '';
  sel.appendChild(new Option('all components', ''));
  for (const n of ui.participants) sel.appendChild(new Option(n, n));
  sel.value = current;
}

// ---- rows ---------------------------------------------------------------------------------

function visible(m) {
  if ($('hide').checked && m.periodic) return false;
  const s = $('filter-subject').value.trim().toLowerCase();
  if (s) {
    const subj = (m.http ? 'http ' : '') + (m.reply_to ? m.reply_to.subject + ' reply ' : '') + m.subject;
    if (!subj.toLowerCase().includes(s)) return false;
  }
  const c = $('filter-component').value;
  if (c && !namesOf(m).includes(c)) return false;
  return true;
}

// A reply folds with the replies to the same request subject (HTTP tokens and inboxes differ).
function foldKey(m) {
  const what = m.reply_to ? '↩ ' + m.reply_to.subject : m.subject;
  return what + '|' + m.sender + '|' + m.receivers.map((r) => r.name).join(',');
}

function label(m) {
  if (m.http && m.http.leg === 'response') {
    return `↩ ${m.http.status}` + (m.reply_to ? `  ${m.reply_to.latency_ms.toFixed(1)} ms` : '');
  }
  if (m.reply_to) return `↩ ${m.reply_to.subject} reply  ${m.reply_to.latency_ms.toFixed(1)} ms`;
  const p = m.payload;
  const bits = [];
  if (p && typeof p === 'object' && !Array.isArray(p)) {
    if (Array.isArray(p.uris) && p.uris.length) bits.push(p.uris.join(','));
    if (m.http && p.host) bits.push(p.host);
    for (const k of ['op', 'name', 'droplet', 'index', 'state']) {
      if (p[k] !== undefined && p[k] !== null && typeof p[k] !== 'object') bits.push(`${k}=${p[k]}`);
    }
    if (Array.isArray(p.droplets)) {
      bits.push(p.droplets.length === 1
        ? `droplet=${p.droplets[0].droplet} ${p.droplets[0].state || ''}`.trim()
        : `${p.droplets.length} instances`);
    }
  }
  const extra = bits.slice(0, 3).join(' ');
  const what = m.http ? m.subject.replace(/\?.*$/, '?…') : m.subject;
  return extra ? `${what}  ${extra}` : what;
}

function clock(ns) {
  const d = new Date(Math.floor(ns / 1e6));
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function drawRow(m, y, animate) {
  const g = el('g', {
    class: 'msg' + (m.reply_to ? ' reply' : '') + (m.periodic ? ' periodic' : '') + (animate ? ' enter' : ''),
    'data-seq': m.seq,
    'data-subject': m.subject,
    'data-sender': m.sender,
    'data-droplet': m.droplet === null || m.droplet === undefined ? '' : m.droplet,
  });
  g.addEventListener('click', () => select(m, g));
  const width = LEFT + ui.participants.length * COL;
  el('rect', { class: 'hit', x: 0, y: y, width: width, height: ROW }, g);
  el('text', { class: 'time', x: 8, y: y + 19 }, g).textContent = clock(m.ts_ns);
  const from = ui.x.get(m.sender || '(unknown)');
  const mid = y + 20;
  const stroke = color(m.sender);
  const targets = m.receivers.map((r) => ui.x.get(r.name || '(unknown)')).filter((x) => x !== undefined);
  let textX = from + 8;
  if (targets.length === 0) {
    el('line', { class: 'arrow', x1: from, y1: mid, x2: from + 46, y2: mid, stroke, 'marker-end': 'url(#arrow)' }, g);
    el('text', { x: from + 52, y: mid + 4, class: 'muted' }, g).textContent = '∅';
  } else {
    const self = targets.filter((x) => x === from).length;
    const others = targets.filter((x) => x !== from);
    if (others.length) {
      const far = others.reduce((a, b) => (Math.abs(b - from) > Math.abs(a - from) ? b : a));
      el('line', { class: 'arrow', x1: from, y1: mid, x2: far, y2: mid, stroke, 'marker-end': 'url(#arrow)' }, g);
      for (const x of others) if (x !== far) el('circle', { class: 'end', cx: x, cy: mid, r: 3.2, fill: stroke }, g);
      textX = Math.min(from, far) + 8;
    }
    if (self) {
      el('path', { class: 'arrow', d: `M${from},${mid - 6} h22 v10 h-20`, fill: 'none', stroke, 'marker-end': 'url(#arrow)' }, g);
      if (!others.length) textX = from + 28;
    }
  }
  el('text', { class: 'label', x: textX, y: mid - 5 }, g).textContent = label(m);
  el('text', { class: 'count', x: Math.max(from, ...targets, from) + 10, y: mid + 4 }, g).textContent = '';
  return g;
}

function append(m, animate) {
  if (!visible(m)) return;
  const folded = $('fold').checked && m.periodic && foldTarget(foldKey(m));
  if (folded) {
    folded.count += 1;
    folded.msg = m;
    folded.el.querySelector('text.count').textContent = `×${folded.count}`;
    folded.el.classList.remove('bump');
    void folded.el.getBoundingClientRect();
    folded.el.classList.add('bump');
    return;
  }
  const y = ui.rows.length * ROW;
  const g = drawRow(m, y, animate);
  $('rows').appendChild(g);
  ui.rows.push({ el: g, key: foldKey(m), count: 1, msg: m });
  resize();
}

// Periodic messages fold into the same message among the trailing run of periodic rows
// (heartbeats and advertisements of several DEAs interleave).
function foldTarget(key) {
  for (let i = ui.rows.length - 1; i >= 0 && i >= ui.rows.length - FOLD_REACH; i--) {
    const row = ui.rows[i];
    if (!row.msg.periodic) return null;
    if (row.key === key) return row;
  }
  return null;
}

function resize() {
  const svg = $('diagram');
  const h = Math.max(40, ui.rows.length * ROW + 20);
  const w = LEFT + ui.participants.length * COL + 20;
  svg.setAttribute('height', h);
  svg.setAttribute('width', w);
  const lines = $('lifelines');
  lines.textContent = '';
  for (const n of ui.participants) {
    const x = ui.x.get(n);
    el('line', { class: 'lifeline', x1: x, y1: 0, x2: x, y2: h }, lines);
  }
  $('empty').style.display = ui.rows.length ? 'none' : '';
}

function redraw() {
  $('rows').textContent = '';
  ui.rows = [];
  for (const m of ui.all) append(m, false);
  resize();
  scrollToEnd();
}

function nearBottom() {
  const s = $('scroll');
  return s.scrollTop + s.clientHeight >= s.scrollHeight - 60;
}
function scrollToEnd() { const s = $('scroll'); s.scrollTop = s.scrollHeight; }

function counts() {
  let t = `${ui.all.length} messages`;
  if (ui.paused && ui.pending) t += ` · ${ui.pending} waiting`;
  if (ui.lagged) t += ` · ${ui.lagged} skipped (slow page)`;
  if (ui.dropped) t += ` · ${ui.dropped} dropped by the broker`;
  $('counts').textContent = t;
}

// ---- events -------------------------------------------------------------------------------

function onFlow(m) {
  ui.all.push(m);
  if (ui.all.length > MAX_KEPT) ui.all.splice(0, ui.all.length - MAX_KEPT);
  const relayout = ensureParticipants(namesOf(m));
  if (ui.paused) { ui.pending += 1; counts(); return; }
  if (relayout) { redraw(); counts(); return; }
  const stick = nearBottom();
  append(m, true);
  if (stick) scrollToEnd();
  counts();
}

function receive(m) {
  if (ui.all.length && m.seq <= ui.all[ui.all.length - 1].seq) return; // already shown
  onFlow(m);
}

function live(on, text) {
  $('conn').className = on ? 'dot on' : 'dot off';
  $('conn-text').textContent = text;
}

// Server-Sent Events: the ring first, then every message as it flows; a reconnect resumes
// after the last id. A headless browser's virtual clock stands still while a stream is open
// (--virtual-time-budget would never run out), so there, or with ?poll, the page polls
// /events/recent instead.
function connect() {
  const poll = /HeadlessChrome/.test(navigator.userAgent) || /[?&]poll\b/.test(location.search) || !window.EventSource;
  if (poll) { pollRecent(); return; }
  const es = new EventSource('/events');
  es.onopen = () => live(true, 'live');
  es.onerror = () => live(false, 'reconnecting…');
  es.addEventListener('flow', (e) => receive(JSON.parse(e.data)));
  es.addEventListener('lagged', (e) => { ui.lagged += JSON.parse(e.data).skipped; counts(); });
  es.addEventListener('drops', (e) => { ui.dropped = JSON.parse(e.data).dropped; counts(); });
}

async function pollRecent() {
  const after = ui.all.length ? ui.all[ui.all.length - 1].seq : 0;
  try {
    const r = await fetch(`/events/recent?after=${after}`);
    if (r.ok) { (await r.json()).forEach(receive); live(true, 'live (polling)'); }
  } catch (e) { live(false, 'reconnecting…'); }
  setTimeout(pollRecent, 500);
}

// ---- detail -------------------------------------------------------------------------------

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

function prettyJson(v) {
  const text = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  if (typeof v === 'string') return esc(text);
  return esc(text).replace(/(&quot;(?:[^&]|&(?!quot;))*?&quot;)(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (all, str, colon, lit, num) => {
      if (str) return colon ? `<span class="k">${str}</span>${colon}` : `<span class="s">${str}</span>`;
      if (lit) return `<span class="b">${lit}</span>`;
      return `<span class="n">${num}</span>`;
    });
}

function select(m, g) {
  document.querySelectorAll('.msg.selected').forEach((e) => e.classList.remove('selected'));
  g.classList.add('selected');
  ui.selected = m.seq;
  const http = m.http ? m.http.leg : null;
  const rows = [
    ['seq', m.seq],
    ['time', clock(m.ts_ns)],
    [http === 'request' ? 'request' : http ? 'exchange' : 'subject', m.subject],
    [http ? 'route' : 'pattern', m.pattern || '—'],
    ['from', m.sender || '(unknown)'],
    ['to', m.receivers.length ? m.receivers.map((r) => r.name + (r.queue ? ` (queue ${r.queue})` : '')).join(', ') : '(nobody)'],
    ['size', `${m.size} bytes${m.truncated ? ' (cut)' : ''}`],
  ];
  if (http === 'response') rows.push(['status', m.http.status]);
  if (m.reply) rows.push([http ? 'exchange' : 'reply to', m.reply]);
  if (m.reply_to) {
    rows.push(['answers', `${m.reply_to.subject} from ${m.reply_to.sender}`]);
    rows.push(['latency', `${m.reply_to.latency_ms.toFixed(2)} ms`]);
  }
  if (m.inferred) rows.push(['attribution', 'inferred from the subject catalogue']);
  const meaning = m.meaning || (m.reply_to ? 'A reply to a request (its inbox).' : 'Not in the CF v1 subject catalogue.');
  $('detail-body').className = '';
  $('detail-body').innerHTML =
    `<div class="meaning">${esc(meaning)}</div>` +
    `<div class="kv">${rows.map(([k, v]) => `<div class="k">${esc(k)}</div><div class="v">${esc(v)}</div>`).join('')}</div>` +
    `<pre class="json">${prettyJson(m.payload)}</pre>`;
}

// ---- state panels -------------------------------------------------------------------------

function errorOr(panel, render) {
  if (!panel) return '<span class="muted">…</span>';
  if (panel.error) return `<span class="bad">${esc(panel.error)}</span>`;
  return render(panel);
}

function renderState(s) {
  if (s.starting) return;
  $('apps').className = '';
  $('apps').innerHTML = errorOr(s.apps, (p) => !p.apps.length ? '<span class="muted">no apps yet</span>' :
    `<table><tr><th>app</th><th>state</th><th>package</th><th>expected</th><th>running</th></tr>${p.apps.map((a) => {
      const cls = a.running === a.expected ? 'ok' : (a.running < a.expected ? 'bad' : 'warn');
      return `<tr><td>${esc(a.name)} <span class="muted">#${a.id}</span></td><td>${esc(a.state)}</td><td>${esc(a.package_state)}</td>` +
        `<td>${a.expected}</td><td class="${cls}">${a.running}</td></tr>`;
    }).join('')}</table>`);
  const appName = new Map(((s.apps && s.apps.apps) || []).map((a) => [a.id, a.name]));
  $('deas').className = '';
  $('deas').innerHTML = s.deas.map((d) => {
    if (d.error) return `<div class="dea"><span class="name">${esc(d.name)}</span> <span class="bad">${esc(d.error)}</span></div>`;
    const pct = d.max_memory ? Math.min(100, (100 * d.reserved_memory) / d.max_memory) : 0;
    const chips = d.instances.map((i) =>
      `<span class="chip ${esc(i.state)}" title="${esc(i.instance)}">${esc(appName.get(i.droplet) || '#' + i.droplet)}[${i.index}] ${esc(i.state)}</span>`).join('');
    return `<div class="dea"><span class="name">${esc(d.name)}</span> <span class="muted">${d.reserved_memory} / ${d.max_memory} MB reserved · ${d.num_apps} instances</span>` +
      `<div class="bar-meter"><span style="width:${pct}%"></span></div>${chips || '<span class="muted">no instances</span>'}</div>`;
  }).join('');
  $('routes').className = '';
  $('routes').innerHTML = errorOr(s.router, (p) => `<table><tr><th>uri</th><th>backends</th></tr>${p.routes.map((r) =>
    `<tr><td>${esc(r.uri)}</td><td>${(r.backends || []).map((b) => esc(b.address)).join('<br>')}</td></tr>`).join('')}</table>`);
  $('hm').className = '';
  $('hm').innerHTML = errorOr(s.health_manager, (p) => `<div class="kv wide">${Object.entries(p).map(([k, v]) =>
    `<div class="k">${esc(k.replace(/_/g, ' '))}</div><div class="v">${esc(v === null ? '—' : v)}</div>`).join('')}</div>`);
}

async function refreshState() {
  try {
    const r = await fetch('/state');
    if (r.ok) renderState(await r.json());
  } catch (e) { /* the next tick retries */ }
}

// ---- controls -----------------------------------------------------------------------------

function setPaused(p) {
  ui.paused = p;
  const b = $('pause');
  b.textContent = p ? 'Resume' : 'Pause';
  b.classList.toggle('paused', p);
  if (!p) { ui.pending = 0; redraw(); }
  counts();
}

$('pause').addEventListener('click', () => setPaused(!ui.paused));
$('clear').addEventListener('click', () => { ui.all = []; redraw(); counts(); });
for (const id of ['filter-subject', 'filter-component', 'fold', 'hide']) {
  $(id).addEventListener(id === 'filter-subject' ? 'input' : 'change', redraw);
}
$('scroll').addEventListener('scroll', syncHeads);
window.addEventListener('resize', () => { if (ui.participants.length) { layout(); drawHeads(); redraw(); } });
document.addEventListener('keydown', (e) => {
  if (e.key === ' ' && e.target === document.body) { e.preventDefault(); setPaused(!ui.paused); }
});

connect();
refreshState();
setInterval(refreshState, 1000);
