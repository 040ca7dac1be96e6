// Frame traces (/api/warren/traces): start one on a connection or a vhost, watch its decoded frames
// live with a filter, save them as JSON Lines or pcap; and each vhost's firehose (tracing) switch.
import * as api from './api.js';
import { h, clear, section, facts, table, field, input, select, form, attempt, confirmButton, link, saveBlob, setOptions } from './dom.js';
import * as fmt from './format.js';

const KINDS = { connection: 'connections', vhost: 'vhosts' };
const DEFAULT_FRAMES = 1000;
const LIVE_MS = 1000;

// Where a trace lives in the API and in the UI: kind is 'connection' or 'vhost'.
const traceWhere = (kind, name) => 'warren/traces/' + KINDS[kind] + '/' + api.path(name);
export const traceHash = (kind, name) => '#/traces/' + KINDS[kind] + '/' + api.path(name);

async function startTrace(kind, name, frames) {
    const body = {};
    if (String(frames).trim()) body.frames = /^\d+$/.test(String(frames).trim()) ? Number(frames) : frames;
    await api.put(traceWhere(kind, name), body);
}

async function findTrace(kind, name) {
    return (await api.get('warren/traces')).find(t => t.kind === kind && t.name === name) || null;
}

// A connection as the pickers show it: its API name, and the name its client gave.
function connectionLabel(c) {
    return c.user_provided_name ? c.name + ' (' + c.user_provided_name + ')' : c.name;
}

// The vhost's firehose (RabbitMQ's rabbitmqctl trace_on/trace_off): PUT /api/vhosts/NAME with
// "tracing", the description and tags sent back as they are (PUT replaces them).
export function firehoseButton(v, after) {
    const label = v.tracing ? 'Turn the firehose off' : 'Turn the firehose on';
    return h('button', { type: 'button', class: 'small firehose', 'data-vhost': v.name, onclick: () => attempt(async () => {
        const body = { description: v.description || '', tags: (v.tags || []).join(','), tracing: !v.tracing };
        if (v.default_queue_type) body.default_queue_type = v.default_queue_type;
        await api.put('vhosts/' + api.path(v.name), body);
        await after();
    }, 'Firehose ' + (v.tracing ? 'off' : 'on') + ' for ' + v.name) }, label);
}

function traceSummary(t) {
    return fmt.num(t.frames) + ' of at most ' + fmt.num(t.max_frames) + ' frames kept, ' + fmt.num(t.recorded) +
        ' recorded, ' + fmt.num(t.dropped) + ' let go' + (t.recording ? '' : ' (not recording: no connection is traced now)');
}

export async function tracesPage(main, params, ctx) {
    document.title = 'Warren: traces';
    const list = h('div'), firehose = h('div');
    const vhosts = await api.get('vhosts');
    const kind = select('kind', [['connection', 'A connection'], ['vhost', 'A virtual host (its connections, and those opened later)']], 'connection');
    const connSelect = h('select', { name: 'connection' });
    const connField = field('Connection', connSelect);
    const vhostField = field('Virtual host', select('vhost', vhosts.map(v => v.name), vhosts.some(v => v.name === '/') ? '/' : undefined));
    const showTarget = () => { connField.hidden = kind.value !== 'connection'; vhostField.hidden = kind.value !== 'vhost'; };
    kind.addEventListener('change', showTarget);
    connField.classList.add('wide');
    showTarget();

    const drawTraces = async () => {
        clear(list, table([
            { label: 'Kind', value: t => t.kind },
            { label: 'Name', value: t => link(traceHash(t.kind, t.name), t.name) },
            { label: 'Recording', value: t => fmt.yesNo(t.recording) },
            { label: 'Frames kept', value: t => fmt.num(t.frames) + ' / ' + fmt.num(t.max_frames), num: true },
            { label: 'Recorded', value: t => fmt.num(t.recorded), num: true },
            { label: 'Let go', value: t => fmt.num(t.dropped), num: true },
            { label: 'Connections', value: t => t.connections.join(', ') },
            { label: '', value: t => confirmButton('Stop', () => attempt(async () => {
                await api.del(traceWhere(t.kind, t.name));
                await drawTraces();
            }, 'Trace stopped and deleted'), 'small danger') },
        ], await api.get('warren/traces')));
    };
    const drawFirehose = async () => {
        clear(firehose, table([
            { label: 'Virtual host', value: v => link('#/vhosts/' + api.path(v.name), v.name) },
            { label: 'Firehose', value: v => v.tracing ? 'on' : 'off' },
            { label: '', value: v => firehoseButton(v, drawFirehose) },
        ], await api.get('vhosts')));
    };

    clear(main, h('h1', {}, 'Frame traces'),
        section('Traces', h('p', { class: 'muted' }, 'Each trace keeps the newest frames in both directions, decoded. Stopping a trace deletes its frames: save them first.'), list),
        section('Start a trace', form('start-trace', [
            field('Trace', kind), connField, vhostField,
            field('Ring size', input('frames', { value: String(DEFAULT_FRAMES), inputmode: 'numeric', size: 8 }), 'frames kept, the oldest let go first (at most 16 MiB of them)'),
        ], 'Start trace', v => attempt(async () => {
            const name = v.kind === 'connection' ? v.connection : v.vhost;
            if (!name) throw new Error('Pick a connection (none is open) or a virtual host.');
            await startTrace(v.kind, name, v.frames);
            location.hash = traceHash(v.kind, name);
        }, 'Trace started'))),
        section('Firehose', h('p', { class: 'muted' }, 'RabbitMQ\'s tracing: every publish and delivery in the virtual host is copied to the exchange amq.rabbitmq.trace (routing keys publish.EXCHANGE and deliver.QUEUE), as rabbitmqctl trace_on does.'), firehose));
    const drawConnections = async () => {
        setOptions(connSelect, (await api.get('connections')).map(c => [c.name, connectionLabel(c)]), '… no connection is open …');
    };
    await drawConnections();
    ctx.every(5000, async () => { await Promise.all([drawTraces(), drawFirehose(), drawConnections()]); });
}

// ---- one trace: its frames, live ----

function clock(iso) {
    return (iso || '').slice(11, 26); // HH:MM:SS.ffffff, UTC as the API gives it
}

// name=value, ..., without the spec's reserved fields (always 0, never read).
function pairs(o) {
    return Object.entries(o || {}).filter(([k]) => !k.startsWith('reserved')).map(([k, v]) => k + '=' + (typeof v === 'string' ? JSON.stringify(v) : fmt.value(v))).join(', ');
}

function what(f) {
    return f.method || f.type + (f.error ? ' (' + f.error + ')' : '');
}

function firstBytes(f) {
    if (f.type !== 'body') return '';
    if (f.body_head !== null && f.body_head !== undefined) return JSON.stringify(f.body_head);
    return 'base64 ' + (f.body_head_base64 || '');
}

// What the filter looks in: every column's text, lower case.
function haystack(f) {
    return [f.direction, 'ch' + f.channel, 'channel ' + f.channel, f.type, what(f), pairs(f.arguments), pairs(f.properties),
        firstBytes(f), f.connection].join(' ').toLowerCase();
}

function frameColumns(kind) {
    return [
        { label: '#', value: f => fmt.num(f.n), num: true },
        { label: 'Time (UTC)', value: f => clock(f.time) },
        kind === 'vhost' ? { label: 'Connection', value: f => f.connection } : null,
        { label: 'Direction', value: f => h('span', { class: 'dir ' + f.direction, title: f.direction === 'in' ? 'from the client' : 'to the client' },
            f.direction === 'in' ? '→ in' : '← out') },
        { label: 'Channel', value: f => String(f.channel), num: true },
        { label: 'Frame', value: f => h('span', { class: 'frame ' + f.type }, what(f)) },
        { label: 'Arguments', value: f => h('code', {}, pairs(f.arguments)) },
        { label: 'Properties', value: f => h('code', {}, pairs(f.properties)) },
        { label: 'Body size', value: f => f.body_size === undefined ? '' : fmt.bytes(f.body_size), num: true },
        { label: 'First bytes', value: f => h('code', {}, firstBytes(f)) },
    ].filter(c => c);
}

export async function tracePage(main, [segment, name], ctx) {
    const kind = segment === 'connections' ? 'connection' : 'vhost';
    document.title = 'Warren: trace of ' + name;
    const where = traceWhere(kind, name);
    const summary = h('div'), frames = h('div', { id: 'trace-frames' }), count = h('span', { class: 'muted' });
    const filter = input('filter', { type: 'search', id: 'trace-filter', placeholder: 'Filter: basic.publish, in, ch1, a routing key…' });
    const live = h('input', { type: 'checkbox', checked: true, id: 'trace-live' });
    let shown = null, seen = null;
    const draw = () => {
        if (!shown) return;
        const words = filter.value.toLowerCase().split(/\s+/).filter(w => w);
        const rows = shown.filter(f => words.every(w => f.text.includes(w)));
        count.textContent = rows.length === shown.length ? '(' + fmt.num(rows.length) + ')' : '(' + fmt.num(rows.length) + ' of ' + fmt.num(shown.length) + ')';
        clear(frames, table(frameColumns(kind), rows));
    };
    filter.addEventListener('input', draw);
    const save = format => attempt(async () => {
        const blob = await api.getBlob(where + '?format=' + format);
        const safe = name.replace(/[^A-Za-z0-9.-]/g, '_');
        saveBlob(blob, 'warren-trace-' + KINDS[kind] + '-' + safe + '.' + format);
    });
    clear(main, h('h1', {}, 'Trace of ', kind === 'vhost' ? 'virtual host ' : 'connection ', h('span', { class: 'name' }, name)),
        section('Details', summary, h('div', { class: 'actions' },
            h('button', { type: 'button', class: 'download', 'data-format': 'jsonl', onclick: () => save('jsonl') }, 'Download JSON Lines'),
            h('button', { type: 'button', class: 'download', 'data-format': 'pcap', onclick: () => save('pcap') }, 'Download pcap (Wireshark)'),
            confirmButton('Stop', () => attempt(async () => {
                await api.del(where);
                location.hash = '#/traces';
            }, 'Trace stopped and deleted')))),
        section('Frames ', h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, live, ' Live'), count), frames));
    ctx.every(LIVE_MS, async () => {
        if (!live.checked && shown) return;
        const t = await findTrace(kind, name);
        if (!t) { ctx.gone(); return; }
        const traced = t.connections.map(c => link('#/connections/' + api.path(c), c)).flatMap((x, i) => i ? [', ', x] : [x]);
        clear(summary, facts([['Recording', fmt.yesNo(t.recording)], ['Frames', traceSummary(t)],
            ['Connections traced', traced.length ? traced : 'none yet']]));
        const mark = t.recorded + '/' + t.frames;
        if (mark === seen) return;
        seen = mark;
        const list = await api.get(where);
        const first = t.recorded - list.length; // numbered from the trace's start, as recorded
        shown = list.map((f, i) => Object.assign(f, { n: first + i + 1, text: haystack(f) }));
        draw();
    });
}

// ---- the connection page's part ----

// A section for one connection's trace: open it or stop it, or start one with a ring size.
export function connectionTraceSection(name) {
    const body = h('div');
    const el = section('Frame trace', body);
    const refresh = async () => {
        const t = await findTrace('connection', name);
        if (t) {
            clear(body, h('p', {}, traceSummary(t), '. ', link(traceHash('connection', name), 'See the frames')),
                h('div', { class: 'actions' }, confirmButton('Stop trace', () => attempt(async () => {
                    await api.del(traceWhere('connection', name));
                    await refresh();
                }, 'Trace stopped and deleted'))));
        } else if (!body.querySelector('form')) {
            clear(body, form('start-trace', [
                field('Ring size', input('frames', { value: String(DEFAULT_FRAMES), inputmode: 'numeric', size: 8 }), 'frames kept, the oldest let go first'),
            ], 'Start trace', v => attempt(async () => {
                await startTrace('connection', name, v.frames);
                location.hash = traceHash('connection', name);
            }, 'Trace started')));
        }
    };
    return { el, refresh };
}
