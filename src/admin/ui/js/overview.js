// The overview: totals, queued messages and message rates as live charts, the node and its listeners.
import * as api from './api.js';
import { h, clear, section, table, facts } from './dom.js';
import { LiveChart } from './chart.js';
import * as fmt from './format.js';

const RATES = [
    { key: 'publish', label: 'Publish' },
    { key: 'confirm', label: 'Confirm' },
    { key: 'deliver_get', label: 'Deliver / get' },
    { key: 'ack', label: 'Ack' },
    { key: 'redeliver', label: 'Redeliver' },
];

export function overviewPage(main, params, ctx) {
    document.title = 'Warren: overview';
    const queued = new LiveChart('Queued messages', [
        { key: 'messages_ready', label: 'Ready' },
        { key: 'messages_unacknowledged', label: 'Unacked' },
        { key: 'messages', label: 'Total' }], fmt.num);
    const rates = new LiveChart('Message rates', RATES, fmt.rate);
    ctx.onLeave(() => { queued.destroy(); rates.destroy(); });
    const totals = h('div', { class: 'cards', id: 'totals' });
    const node = h('div');
    clear(main, h('h1', {}, 'Overview'), totals,
        h('div', { class: 'charts' }, queued.el, rates.el), section('Node', node));
    ctx.every(5000, async () => {
        const o = await api.get('overview');
        const q = o.queue_totals || {}, t = o.object_totals || {}, s = o.message_stats || {};
        queued.push({ messages: q.messages || 0, messages_ready: q.messages_ready || 0,
            messages_unacknowledged: q.messages_unacknowledged || 0 });
        const now = {};
        for (const r of RATES) now[r.key] = fmt.detailRate(s, r.key) || 0;
        rates.push(now);
        clear(totals, [
            ['Messages', q.messages], ['Ready', q.messages_ready], ['Unacked', q.messages_unacknowledged],
            ['Connections', t.connections], ['Channels', t.channels], ['Exchanges', t.exchanges],
            ['Queues', t.queues], ['Consumers', t.consumers],
        ].map(([k, v]) => h('div', { class: 'card', 'data-total': k.toLowerCase() },
            h('span', { class: 'n' }, fmt.num(v || 0)), h('span', { class: 'k' }, k))));
        clear(node, facts([
            ['Product', o.product_name + ' ' + o.product_version],
            ['RabbitMQ compatibility', o.rabbitmq_version],
            ['Node', o.node], ['Cluster', o.cluster_name],
        ]), table([
            { label: 'Protocol', value: l => l.protocol },
            { label: 'Address', value: l => l.ip_address },
            { label: 'Port', value: l => l.port, num: true },
        ], o.listeners || []));
    });
}
