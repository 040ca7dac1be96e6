// One queue: its figures and chart, arguments and policy, consumers, bindings; publish, get, peek, purge, delete.
import * as api from './api.js';
import { h, clear, section, fold, facts, table, field, input, select, form, attempt, confirmButton, parseJsonObject, link } from './dom.js';
import { LiveChart } from './chart.js';
import { messageView, publishForm } from './messages.js';
import * as fmt from './format.js';

export async function queuePage(main, [vhost, name], ctx) {
    document.title = 'Warren: queue ' + name;
    const where = 'queues/' + api.path(vhost, name);
    const chart = new LiveChart('Queued messages', [
        { key: 'messages_ready', label: 'Ready' },
        { key: 'messages_unacknowledged', label: 'Unacked' },
        { key: 'messages', label: 'Total' }], fmt.num);
    ctx.onLeave(() => chart.destroy());
    const cards = h('div', { class: 'cards' });
    const details = h('div', { id: 'queue-details' });
    const consumers = h('div');
    const bindings = h('div');
    const got = h('div', { class: 'messages', id: 'got' });
    const peeked = h('div', { class: 'messages', id: 'peeked' });
    const exchanges = (await api.get('exchanges/' + api.path(vhost))).map(e => e.name).filter(n => n !== '');

    const drawBindings = async () => {
        const list = await api.get(where + '/bindings');
        clear(bindings, table([
            { label: 'From', value: b => b.source === '' ? '(AMQP default)' : link('#/exchanges/' + api.path(vhost, b.source), b.source) },
            { label: 'Routing key', value: b => b.routing_key },
            { label: 'Arguments', value: b => fmt.value(b.arguments) },
            { label: '', value: b => b.source === '' ? '' : confirmButton('Unbind', () => attempt(async () => {
                await api.del('bindings/' + api.path(vhost, 'e', b.source, 'q', name, b.properties_key));
                drawBindings();
            }, 'Unbound'), 'small') },
        ], list));
    };

    clear(main,
        h('h1', {}, 'Queue ', h('span', { class: 'name' }, name), h('small', {}, ' in ', vhost)),
        cards, h('div', { class: 'charts' }, chart.el, details),
        section('Consumers', consumers),
        section('Bindings', bindings, form('bind', [
            field('From exchange', input('source', { list: 'exchange-names', required: true })),
            h('datalist', { id: 'exchange-names' }, exchanges.map(e => h('option', { value: e }))),
            field('Routing key', input('routing_key', { value: name })),
            field('Arguments', h('textarea', { name: 'arguments', rows: 2 }), 'a JSON object'),
        ], 'Bind', v => attempt(async () => {
            await api.post('bindings/' + api.path(vhost, 'e', v.source, 'q', name),
                { routing_key: v.routing_key, arguments: parseJsonObject(v.arguments, 'Arguments') });
            drawBindings();
        }, 'Bound'))),
        fold('Publish message', h('p', { class: 'muted' }, 'Published to the default exchange with the queue\'s name as routing key unless changed.'),
            publishForm(vhost, '', name, () => refresh())),
        fold('Get messages', h('p', { class: 'muted' }, 'Getting takes messages off the queue; requeued ones come back redelivered. Peek looks without touching them.'),
            form('get', [
                field('Ack mode', select('ackmode', [['ack_requeue_true', 'Nack, requeue'], ['reject_requeue_true', 'Reject, requeue'],
                    ['ack_requeue_false', 'Ack (remove)'], ['reject_requeue_false', 'Reject, no requeue']], 'ack_requeue_true')),
                field('Encoding', select('encoding', [['auto', 'Auto string / base64'], ['base64', 'base64']], 'auto')),
                field('Messages', input('count', { type: 'number', min: 1, value: 1 })),
            ], 'Get messages', v => attempt(async () => {
                const list = await api.post(where + '/get', { count: Number(v.count), ackmode: v.ackmode, encoding: v.encoding, truncate: 50000 });
                clear(got, list.length ? list.map((m, i) => messageView(m, 'text', 'Message ' + (i + 1))) : h('p', { class: 'muted' }, 'Queue is empty.'));
            })), got),
        h('details', { class: 'panel', open: true, id: 'peek' }, h('summary', {}, 'Peek'),
            form('peek', [
                field('From offset', input('offset', { type: 'number', min: 0, value: 0 })),
                field('Messages', input('count', { type: 'number', min: 1, max: 1000, value: 20 })),
                field('Body as', select('view', [['text', 'text'], ['json', 'JSON'], ['hex', 'hex']], 'text')),
            ], 'Peek', v => attempt(async () => {
                let list;
                try {
                    list = await api.get(where + '/peek?' + new URLSearchParams({ offset: v.offset, count: v.count }));
                } catch (e) {
                    if (e.status === 404 || e.status === 405) throw new Error('Peek failed: ' + e.message + ' (this broker may have no peek)');
                    throw e;
                }
                clear(peeked, list.length ? list.map(m => messageView(m, v.view, '#' + m.offset)) : h('p', { class: 'muted' }, 'No messages at offset ' + v.offset + '.'));
            })), peeked),
        section('Danger zone', h('div', { class: 'actions' },
            confirmButton('Purge', () => attempt(async () => { await api.del(where + '/contents'); refresh(); }, 'Queue purged')),
            confirmButton('Delete', () => attempt(async () => { await api.del(where); location.hash = '#/queues'; }, 'Queue ' + name + ' deleted')))));

    const draw = async () => {
        const q = await api.get(where);
        chart.push({ messages: q.messages || 0, messages_ready: q.messages_ready || 0, messages_unacknowledged: q.messages_unacknowledged || 0 });
        const s = q.message_stats || {};
        clear(cards, [
            ['Ready', q.messages_ready, 'ready'], ['Unacked', q.messages_unacknowledged, 'unacked'], ['Total', q.messages, 'messages'],
            ['Consumers', q.consumers, 'consumers'],
        ].map(([k, v, id]) => h('div', { class: 'card', 'data-total': id }, h('span', { class: 'n' }, fmt.num(v || 0)), h('span', { class: 'k' }, k))));
        clear(details, section('Details', facts([
            ['Type', q.type], ['Features', fmt.features(q) || 'none'], ['State', q.state],
            ['Policy', q.policy ? link('#/policies', q.policy) : 'none'], ['Operator policy', q.operator_policy || 'none'],
            ['Effective policy definition', Object.keys(q.effective_policy_definition || {}).length ? facts(Object.entries(q.effective_policy_definition).map(([k, v]) => [k, fmt.value(v)])) : 'none'],
            ['Arguments', Object.keys(q.arguments || {}).length ? facts(Object.entries(q.arguments).map(([k, v]) => [k, fmt.value(v)])) : 'none'],
            ['Message bytes', fmt.bytes(q.message_bytes)],
            ['Exclusive consumer', q.exclusive_consumer_tag || ''],
            ['Publish rate', fmt.rate(fmt.detailRate(s, 'publish'))], ['Deliver / get rate', fmt.rate(fmt.detailRate(s, 'deliver_get'))],
            ['Ack rate', fmt.rate(fmt.detailRate(s, 'ack'))],
        ])));
        clear(consumers, table([
            { label: 'Channel', value: c => link('#/channels/' + api.path(c.channel_details.name), c.channel_details.name) },
            { label: 'Consumer tag', value: c => c.consumer_tag },
            { label: 'Ack required', value: c => fmt.yesNo(c.ack_required) },
            { label: 'Exclusive', value: c => fmt.yesNo(c.exclusive) },
            { label: 'Prefetch', value: c => fmt.num(c.prefetch_count), num: true },
            { label: 'Active', value: c => c.activity_status || fmt.yesNo(c.active) },
            { label: 'Arguments', value: c => fmt.value(c.arguments) },
        ], q.consumer_details || []));
    };
    const refresh = () => draw().catch(e => ctx.app.failed(e));
    drawBindings().catch(e => ctx.app.failed(e));
    ctx.every(5000, draw);
}
