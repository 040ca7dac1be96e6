// Messages as /get and /peek answer them: properties, headers, and the body as text, JSON or hex.
import * as api from './api.js';
import { h, facts, select, field, input, form, attempt, parseJsonObject, notice } from './dom.js';
import * as fmt from './format.js';

// The body's bytes, whichever encoding the API chose.
export function payloadBytes(m) {
    if (m.payload_encoding === 'base64') {
        const bin = atob(m.payload || '');
        const out = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
        return out;
    }
    return new TextEncoder().encode(m.payload || '');
}

export function asText(bytes) {
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

export function asJson(bytes) {
    try {
        return fmt.json(JSON.parse(asText(bytes)));
    } catch (e) {
        return '(not JSON: ' + e.message + ')\n' + asText(bytes);
    }
}

// 16 bytes a line: offset, hex, and the printable ASCII.
export function asHex(bytes) {
    const lines = [];
    for (let i = 0; i < bytes.length; i += 16) {
        const row = bytes.slice(i, i + 16);
        const hex = Array.from(row, b => b.toString(16).padStart(2, '0')).join(' ');
        const ascii = Array.from(row, b => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
        lines.push(i.toString(16).padStart(8, '0') + '  ' + hex.padEnd(47) + '  ' + ascii);
    }
    return lines.join('\n');
}

const VIEWS = { text: asText, json: asJson, hex: asHex };

// One message: where it came from, its properties (headers as a table), its body in the view chosen.
export function messageView(m, view, title) {
    const bytes = payloadBytes(m);
    const props = Object.assign({}, m.properties || {});
    const headers = props.headers;
    delete props.headers;
    const body = h('pre', { class: 'payload' }, VIEWS[view](bytes));
    const chooser = select('view', Object.keys(VIEWS).map(k => [k, k === 'json' ? 'JSON' : k]), view);
    chooser.addEventListener('change', () => { body.textContent = VIEWS[chooser.value](bytes); });
    return h('article', { class: 'message' },
        h('header', {}, h('b', {}, title), ' ', h('label', { class: 'check' }, 'Body as ', chooser)),
        facts([
            ['Exchange', m.exchange === '' ? '(AMQP default)' : m.exchange],
            ['Routing key', m.routing_key],
            ['Redelivered', fmt.yesNo(m.redelivered)],
            m.message_count !== undefined ? ['Messages left', fmt.num(m.message_count)] : null,
            ['Payload', fmt.bytes(m.payload_bytes) + (bytes.length < m.payload_bytes ? ' (shown: ' + fmt.bytes(bytes.length) + ')' : '') + ', ' + m.payload_encoding],
            ...Object.entries(props).map(([k, v]) => [k, fmt.value(v)]),
            headers && Object.keys(headers).length ? ['Headers', facts(Object.entries(headers).map(([k, v]) => [k, fmt.value(v)]))] : null,
        ]),
        body);
}

// The publish form of the queue and exchange pages: POST /api/exchanges/V/E/publish; then after().
export function publishForm(vhost, exchange, routingKey, after) {
    return form('publish', [
        field('Routing key', input('routing_key', { value: routingKey })),
        field('Delivery mode', select('delivery_mode', [['1', '1 – non-persistent'], ['2', '2 – persistent']], '1')),
        field('Headers', h('textarea', { name: 'headers', rows: 2, placeholder: '{"x-trace": "on"}' }), 'a JSON object'),
        field('Properties', h('textarea', { name: 'properties', rows: 2, placeholder: '{"content_type": "application/json"}' }), 'a JSON object: content_type, message_id, expiration…'),
        field('Payload', h('textarea', { name: 'payload', rows: 4 })),
        field('Payload encoding', select('payload_encoding', [['string', 'string'], ['base64', 'base64']], 'string')),
    ], 'Publish message', v => attempt(async () => {
        const properties = parseJsonObject(v.properties, 'Properties');
        const headers = parseJsonObject(v.headers, 'Headers');
        if (Object.keys(headers).length) properties.headers = headers;
        properties.delivery_mode = Number(v.delivery_mode);
        const r = await api.post('exchanges/' + api.path(vhost, exchange || 'amq.default') + '/publish',
            { properties, routing_key: v.routing_key, payload: v.payload, payload_encoding: v.payload_encoding });
        notice(r && r.routed ? 'Message published.' : 'Message published, but not routed.', r && r.routed ? 'ok' : 'error');
        if (after) after();
    }));
}
