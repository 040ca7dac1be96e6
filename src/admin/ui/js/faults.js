// Fault injection (/api/warren/faults): arm a fault on a connection, see and disarm what is armed,
// and switch the simulated memory and disk alarms; says how to enable it when the broker refuses.
import * as api from './api.js';
import { h, clear, section, table, field, input, select, form, attempt, confirmButton, link, setOptions } from './dom.js';
import * as fmt from './format.js';

const connectionFaults = name => 'warren/faults/connections/' + api.path(name);

// Every fault the API takes, with the members it sends and what the client will see.
const FAULTS = [
    { fault: 'close', label: 'Close the connection', fields: ['code', 'text'], code: 320,
        hint: 'connection.close with this code and text (empty: the code\'s name, e.g. CONNECTION_FORCED - injected fault)' },
    { fault: 'close_channel', label: 'Close a channel', fields: ['channel', 'code', 'text'], code: 406,
        hint: 'channel.close on that channel with this code and text' },
    { fault: 'block', label: 'Send connection.blocked', fields: ['reason'],
        hint: 'only to a client that announced the connection.blocked capability' },
    { fault: 'unblock', label: 'Send connection.unblocked', fields: [] },
    { fault: 'cut', label: 'Cut the socket', fields: ['after_bytes'],
        hint: 'now, or after the next N bytes written (a frame cut short, then EOF)' },
    { fault: 'delay', label: 'Delay writes', fields: ['ms'], hint: 'hold each write back N ms (0: stop delaying)' },
    { fault: 'stop_heartbeats', label: 'Stop heartbeats', fields: [], hint: 'the client\'s heartbeat timeout fires' },
    { fault: 'resume_heartbeats', label: 'Resume heartbeats', fields: [] },
    { fault: 'nack', label: 'Nack publishes', fields: ['count'], hint: 'the next N publishes under confirms get basic.nack and go nowhere' },
    { fault: 'fail_next', label: 'Fail the next method', fields: ['method', 'code', 'text'], code: 404,
        hint: 'the next basic.consume or queue.declare gets channel.close with this code and text' },
];

const CODES = [200, 311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541];

// A number where one was typed, else the text as typed (the API says what is wrong with it).
function numberOr(text) {
    const t = text.trim();
    return /^-?\d+$/.test(t) ? Number(t) : t;
}

// The body for POST .../connections/NAME from the form's values; empty fields are left out.
function faultBody(values) {
    const spec = FAULTS.find(f => f.fault === values.fault);
    const body = { fault: spec.fault };
    for (const k of spec.fields) {
        const v = values[k] === undefined ? '' : String(values[k]);
        if (!v.trim()) continue;
        body[k] = k === 'text' || k === 'reason' || k === 'method' ? v : numberOr(v);
    }
    return body;
}

// The form that arms one fault on the connection(s) pick() names (an API name or a connection_name).
function faultForm(pick, after) {
    const kind = select('fault', FAULTS.map(f => [f.fault, f.label]), 'close');
    const hint = h('p', { class: 'muted fault-hint' });
    const code = input('code', { inputmode: 'numeric', size: 5, list: 'fault-codes' });
    const fields = {
        channel: field('Channel', input('channel', { value: '1', inputmode: 'numeric', size: 5 })),
        code: field('Reply code', code, '320, 404, 406, 501, 541…'),
        text: field('Reply text', input('text', { size: 40, placeholder: 'e.g. CONNECTION_FORCED - broker forced connection closure' }), 'at most 255 bytes'),
        reason: field('Reason', input('reason', { value: 'fault injection' })),
        after_bytes: field('After bytes', input('after_bytes', { inputmode: 'numeric', size: 8, placeholder: 'now' }), 'empty: cut now'),
        ms: field('Milliseconds', input('ms', { value: '500', inputmode: 'numeric', size: 8 })),
        count: field('Publishes (N)', input('count', { value: '1', inputmode: 'numeric', size: 8 })),
        method: field('Method', select('method', ['basic.consume', 'queue.declare'], 'basic.consume')),
    };
    const show = () => {
        const spec = FAULTS.find(f => f.fault === kind.value);
        for (const [k, el] of Object.entries(fields)) el.hidden = !spec.fields.includes(k);
        if (spec.code) code.value = String(spec.code);
        hint.textContent = spec.hint || '';
    };
    kind.addEventListener('change', show);
    show();
    return form('fault', [field('Fault', kind), Object.values(fields), h('datalist', { id: 'fault-codes' }, CODES.map(c => h('option', { value: c }))), hint],
        'Inject', v => {
            const target = pick();
            return attempt(async () => {
                if (!target) throw new Error('Pick a connection first.');
                const r = await api.post(connectionFaults(target), faultBody(v));
                await after(r);
            }, 'Injected ' + v.fault);
        });
}

// What is armed on one connection, as the API's armed object says it.
function armedText(a) {
    const out = [];
    if (a.delay_ms) out.push('writes delayed ' + a.delay_ms + ' ms');
    if (a.cut_after_bytes !== null && a.cut_after_bytes !== undefined) out.push('cut after ' + fmt.num(a.cut_after_bytes) + ' more bytes');
    if (a.heartbeats_stopped) out.push('heartbeats stopped');
    if (a.nacks_left) out.push('nack the next ' + fmt.num(a.nacks_left) + ' publishes');
    for (const f of a.fail_next || []) out.push('next ' + f.method + ' fails with ' + f.code + ' ' + f.text);
    return out.length ? out.join('; ') : 'nothing';
}

function disarmButton(name, after) {
    return h('button', { type: 'button', class: 'small disarm', onclick: () => attempt(async () => {
        await api.del(connectionFaults(name));
        await after();
    }, 'Disarmed') }, 'Disarm');
}

// The broker refused (403): what it said, and how to turn fault injection on.
function disabledPanel(e) {
    return h('section', { class: 'panel disabled-feature' },
        h('h2', {}, 'Fault injection is disabled on this broker'),
        h('p', {}, 'To use it, restart the broker with ', h('code', {}, 'warren --enable-fault-injection'), ' or put ',
            h('code', {}, 'warren.fault_injection = true'), ' in rabbitmq.conf. It lets administrators break clients\' connections on purpose: for testing client libraries, never on a production broker.'),
        h('p', { class: 'muted' }, 'The API answers ' + e.status + ': ' + e.message));
}

async function faultsState() {
    try {
        return await api.get('warren/faults');
    } catch (e) {
        if (e.status === 403) return { disabled: e };
        throw e;
    }
}

function alarmRow(name, on, after) {
    return h('div', { class: 'alarm ' + (on ? 'on' : 'off'), 'data-alarm': name },
        h('span', { class: 'state' }, (name === 'memory' ? 'Memory alarm: ' : 'Disk alarm: ') + (on ? 'SET' : 'clear')),
        h('button', { type: 'button', class: on ? 'small' : 'small danger', onclick: () => attempt(async () => {
            await api.post('warren/faults/alarms', { alarm: name, set: !on });
            await after();
        }, (name === 'memory' ? 'Memory' : 'Disk') + ' alarm ' + (on ? 'cleared' : 'set')) }, on ? 'Clear' : 'Set'));
}

export async function faultsPage(main, params, ctx) {
    document.title = 'Warren: faults';
    const state = await faultsState();
    if (state.disabled) {
        clear(main, h('h1', {}, 'Fault injection'), disabledPanel(state.disabled));
        return;
    }
    const alarms = h('div', { class: 'alarms' }), armed = h('div', { id: 'armed' });
    const picker = h('select', { name: 'target', id: 'fault-target' });
    const pickerBox = h('div', { class: 'form' });
    const draw = async () => {
        const [s, conns] = await Promise.all([api.get('warren/faults'), api.get('connections')]);
        clear(alarms, alarmRow('memory', s.alarms.memory, draw), alarmRow('disk', s.alarms.disk, draw));
        clear(armed, table([
            { label: 'Connection', value: a => link('#/connections/' + api.path(a.name), a.name) },
            { label: 'Client name', value: a => a.connection_name || '' },
            { label: 'Armed', value: a => armedText(a) },
            { label: '', value: a => disarmButton(a.name, draw) },
        ], s.connections));
        setOptions(picker, conns.map(c => [c.name, c.user_provided_name ? c.name + ' (' + c.user_provided_name + ')' : c.name]),
            '… no connection is open …');
    };
    const pickerField = field('Connection', picker, 'the fault goes to this connection');
    pickerField.classList.add('wide');
    clear(pickerBox, pickerField);
    clear(main, h('h1', {}, 'Fault injection'),
        section('Alarms', h('p', { class: 'muted' }, 'A simulated alarm blocks publishers broker-wide, as a real memory or disk alarm does (connection.blocked to clients that take it).'), alarms),
        section('Armed now', armed, h('div', { class: 'actions' }, confirmButton('Disarm everything', () => attempt(async () => {
            await api.del('warren/faults');
            await draw();
        }, 'Everything disarmed, alarms cleared')))),
        section('Inject a fault', pickerBox, faultForm(() => picker.value, draw)));
    ctx.every(3000, draw);
}

// ---- the connection page's part ----

export function connectionFaultsSection(name) {
    const body = h('div');
    const el = section('Faults', body);
    const armedNow = h('p', { class: 'armed' });
    let drawn = false;
    const refresh = async () => {
        let armed;
        try {
            armed = await api.get(connectionFaults(name));
        } catch (e) {
            if (e.status === 403) {
                clear(body, h('p', { class: 'muted' }, 'Fault injection is disabled on this broker. ', link('#/faults', 'How to enable it.')));
                return;
            }
            if (e.status === 404) return; // the connection is gone: the page says so
            throw e;
        }
        const now = armedText(armed[0] || {});
        clear(armedNow, 'Armed: ', now, ' ', now === 'nothing' ? null : disarmButton(name, refresh));
        if (!drawn) {
            drawn = true;
            clear(body, armedNow, faultForm(() => name, refresh));
        }
    };
    return { el, refresh };
}
