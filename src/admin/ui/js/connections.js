// Connections and channels: the lists, one connection with its client properties and channels (and a
// close with a reason), one channel with its consumers.
import * as api from './api.js';
import { h, clear, section, facts, table, field, input, form, attempt, link } from './dom.js';
import * as fmt from './format.js';

const connectionHash = name => '#/connections/' + api.path(name);
const channelHash = name => '#/channels/' + api.path(name);

function client(c) {
    const p = c.client_properties || {};
    return [p.product, p.version].filter(x => x).join(' ');
}

function mode(ch) {
    return [ch.confirm ? 'C' : '', ch.transactional ? 'T' : ''].join('');
}

export function connectionsPage(main, params, ctx) {
    document.title = 'Warren: connections';
    const list = h('div');
    clear(main, h('h1', {}, 'Connections'), list);
    ctx.every(5000, async () => {
        clear(list, table([
            { label: 'Name', value: c => link(connectionHash(c.name), c.name) },
            { label: 'Client name', value: c => c.user_provided_name || '' },
            { label: 'User', value: c => c.user },
            { label: 'Virtual host', value: c => c.vhost },
            { label: 'State', value: c => c.state },
            { label: 'TLS', value: c => c.ssl ? c.ssl_protocol || 'yes' : '' },
            { label: 'Protocol', value: c => c.protocol },
            { label: 'Client', value: client },
            { label: 'Channels', value: c => fmt.num(c.channels), num: true },
            { label: 'From client', value: c => fmt.rate(fmt.detailRate(c, 'recv_oct')) || fmt.bytes(c.recv_oct), num: true },
            { label: 'To client', value: c => fmt.rate(fmt.detailRate(c, 'send_oct')) || fmt.bytes(c.send_oct), num: true },
        ], await api.get('connections')));
    });
}

function channelColumns() {
    return [
        { label: 'Channel', value: c => link(channelHash(c.name), c.name) },
        { label: 'User', value: c => c.user },
        { label: 'Virtual host', value: c => c.vhost },
        { label: 'Mode', value: c => h('span', { title: 'C: confirms, T: transactional' }, mode(c)) },
        { label: 'State', value: c => c.state },
        { label: 'Consumers', value: c => fmt.num(c.consumer_count), num: true },
        { label: 'Prefetch', value: c => fmt.num(c.prefetch_count) + (c.global_prefetch_count ? ' / ' + fmt.num(c.global_prefetch_count) + ' global' : ''), num: true },
        { label: 'Unacked', value: c => fmt.num(c.messages_unacknowledged), num: true },
        { label: 'Unconfirmed', value: c => fmt.num(c.messages_unconfirmed), num: true },
        { label: 'Publish', value: c => fmt.rate(fmt.detailRate(c.message_stats, 'publish')), num: true },
        { label: 'Deliver / get', value: c => fmt.rate(fmt.detailRate(c.message_stats, 'deliver_get')), num: true },
    ];
}

// Client properties, nested tables (capabilities) as nested fact tables.
function propertyFacts(props) {
    return facts(Object.entries(props || {}).map(([k, v]) =>
        [k, v && typeof v === 'object' && !Array.isArray(v) ? propertyFacts(v) : fmt.value(v)]));
}

export async function connectionPage(main, [name], ctx) {
    document.title = 'Warren: connection ' + name;
    const where = 'connections/' + api.path(name);
    const details = h('div'), props = h('div'), channels = h('div');
    clear(main, h('h1', {}, 'Connection ', h('span', { class: 'name' }, name)),
        section('Details', details), section('Client properties', props), section('Channels', channels),
        section('Close this connection', form('close', [
            field('Reason', input('reason', { value: 'Closed via management plugin', size: 40 }),
                'the client sees connection.close 320 CONNECTION_FORCED with this text'),
        ], 'Force close', v => attempt(async () => {
            await api.del(where, { 'x-reason': v.reason });
            location.hash = '#/connections';
        }, 'Connection closed'))));
    ctx.every(5000, async () => {
        const c = await api.get(where); // a 404 (closed) ends the polling, said once
        clear(details, facts([
            ['Client name', c.user_provided_name || ''], ['User', c.user], ['Virtual host', c.vhost], ['State', c.state],
            ['Protocol', c.protocol], ['Authentication', c.auth_mechanism],
            ['TLS', c.ssl ? [c.ssl_protocol, c.ssl_cipher].filter(x => x).join(', ') : 'no'],
            ['Peer certificate', c.peer_cert_subject || ''],
            ['From', c.peer_host + ':' + c.peer_port], ['To', c.host + ':' + c.port],
            ['Connected at', fmt.time(c.connected_at)],
            ['Heartbeat', c.timeout + ' s'], ['Frame max', fmt.num(c.frame_max)], ['Channel max', fmt.num(c.channel_max)],
            ['Received', fmt.bytes(c.recv_oct) + ' in ' + fmt.num(c.recv_cnt) + ' reads'],
            ['Sent', fmt.bytes(c.send_oct) + ' in ' + fmt.num(c.send_cnt) + ' writes'],
        ]));
        clear(props, propertyFacts(c.client_properties));
        clear(channels, table(channelColumns(), await api.get(where + '/channels')));
    });
}

export function channelsPage(main, params, ctx) {
    document.title = 'Warren: channels';
    const list = h('div');
    clear(main, h('h1', {}, 'Channels'), list);
    ctx.every(5000, async () => { clear(list, table(channelColumns(), await api.get('channels'))); });
}

export function channelPage(main, [name], ctx) {
    document.title = 'Warren: channel ' + name;
    const details = h('div'), consumers = h('div');
    clear(main, h('h1', {}, 'Channel ', h('span', { class: 'name' }, name)), section('Details', details), section('Consumers', consumers));
    ctx.every(5000, async () => {
        const c = await api.get('channels/' + api.path(name));
        const conn = c.connection_details || {};
        clear(details, facts([
            ['Connection', link(connectionHash(conn.name), conn.name)], ['Number', c.number],
            ['User', c.user], ['Virtual host', c.vhost], ['State', c.state], ['Mode', mode(c) || 'none'],
            ['Prefetch (per consumer)', fmt.num(c.prefetch_count)], ['Prefetch (channel)', fmt.num(c.global_prefetch_count)],
            ['Unacked', fmt.num(c.messages_unacknowledged)], ['Unconfirmed', fmt.num(c.messages_unconfirmed)],
            ['Uncommitted messages', fmt.num(c.messages_uncommitted)], ['Uncommitted acks', fmt.num(c.acks_uncommitted)],
        ]));
        clear(consumers, table([
            { label: 'Queue', value: x => link('#/queues/' + api.path(x.queue.vhost, x.queue.name), x.queue.name) },
            { label: 'Consumer tag', value: x => x.consumer_tag },
            { label: 'Ack required', value: x => fmt.yesNo(x.ack_required) },
            { label: 'Exclusive', value: x => fmt.yesNo(x.exclusive) },
            { label: 'Prefetch', value: x => fmt.num(x.prefetch_count), num: true },
            { label: 'Arguments', value: x => fmt.value(x.arguments) },
        ], c.consumer_details || []));
    });
}
