// Exchanges: the list and the form to add one; one exchange with its bindings both ways, publish and delete.
import * as api from './api.js';
import { h, clear, section, fold, facts, table, field, input, select, form, attempt, confirmButton, parseJsonObject, link } from './dom.js';
import { publishForm } from './messages.js';
import * as fmt from './format.js';

// The default exchange is "" in the API's answers and amq.default in its paths, as RabbitMQ's.
export function exchangeHash(vhost, name) {
    return '#/exchanges/' + api.path(vhost, name === '' ? 'amq.default' : name);
}

export async function exchangesPage(main, params, ctx) {
    document.title = 'Warren: exchanges';
    const list = h('div');
    const [vhosts, overview] = await Promise.all([api.get('vhosts'), api.get('overview')]);
    const types = (overview.exchange_types || []).map(t => t.name);
    const draw = async () => {
        const items = await api.get('exchanges');
        clear(list, table([
            { label: 'Virtual host', value: e => e.vhost },
            { label: 'Name', value: e => link(exchangeHash(e.vhost, e.name), e.name === '' ? '(AMQP default)' : e.name) },
            { label: 'Type', value: e => e.type },
            { label: 'Features', value: e => h('span', { title: fmt.value(e.arguments) }, fmt.features(e)) },
            { label: 'Policy', value: e => e.policy || '' },
            { label: 'Rate in', value: e => fmt.rate(fmt.detailRate(e.message_stats, 'publish_in')), num: true },
            { label: 'Rate out', value: e => fmt.rate(fmt.detailRate(e.message_stats, 'publish_out')), num: true },
        ], items));
    };
    const names = vhosts.map(v => v.name);
    clear(main, h('h1', {}, 'Exchanges'), list, fold('Add an exchange', form('add-exchange', [
        field('Virtual host', select('vhost', names, names.includes('/') ? '/' : names[0])),
        field('Name', input('name', { required: true })),
        field('Type', select('type', types, 'direct')),
        field('Durable', h('input', { type: 'checkbox', name: 'durable', checked: true })),
        field('Auto delete', h('input', { type: 'checkbox', name: 'auto_delete' })),
        field('Internal', h('input', { type: 'checkbox', name: 'internal' })),
        field('Arguments', h('textarea', { name: 'arguments', rows: 2, placeholder: '{"alternate-exchange": "ae"}' }), 'a JSON object'),
    ], 'Add exchange', (v, f) => attempt(async () => {
        await api.put('exchanges/' + api.path(v.vhost, v.name), { type: v.type, durable: v.durable,
            auto_delete: v.auto_delete, internal: v.internal, arguments: parseJsonObject(v.arguments, 'Arguments') });
        f.elements.name.value = '';
        await draw();
    }, 'Exchange ' + v.name + ' added'))));
    ctx.every(5000, draw);
}

function bindingTable(vhost, list, redraw, outgoing) {
    return table([
        { label: outgoing ? 'To' : 'From', value: b => {
            if (!outgoing) return link(exchangeHash(vhost, b.source), b.source === '' ? '(AMQP default)' : b.source);
            return link(b.destination_type === 'queue' ? '#/queues/' + api.path(vhost, b.destination) : exchangeHash(vhost, b.destination),
                b.destination + (b.destination_type === 'queue' ? '' : ' (exchange)'));
        } },
        { label: 'Routing key', value: b => b.routing_key },
        { label: 'Arguments', value: b => fmt.value(b.arguments) },
        { label: '', value: b => b.source === '' ? '' : confirmButton('Unbind', () => attempt(async () => {
            await api.del('bindings/' + api.path(vhost, 'e', b.source, b.destination_type === 'queue' ? 'q' : 'e', b.destination, b.properties_key));
            redraw();
        }, 'Unbound'), 'small') },
    ], list);
}

export async function exchangePage(main, [vhost, name], ctx) {
    const shown = name === 'amq.default' ? '' : name;
    document.title = 'Warren: exchange ' + (shown || '(AMQP default)');
    const where = 'exchanges/' + api.path(vhost, name);
    const details = h('div'), out = h('div'), into = h('div');
    const drawBindings = async () => {
        const [source, destination] = await Promise.all([api.get(where + '/bindings/source'), api.get(where + '/bindings/destination')]);
        clear(out, bindingTable(vhost, source, drawBindings, true));
        clear(into, bindingTable(vhost, destination, drawBindings, false));
    };
    const e = await api.get(where);
    clear(details, facts([
        ['Type', e.type], ['Features', fmt.features(e) || 'none'], ['Policy', e.policy || 'none'],
        ['Arguments', Object.keys(e.arguments || {}).length ? facts(Object.entries(e.arguments).map(([k, v]) => [k, fmt.value(v)])) : 'none'],
    ]));
    const isDefault = shown === '';
    clear(main,
        h('h1', {}, 'Exchange ', h('span', { class: 'name' }, shown || '(AMQP default)'), h('small', {}, ' in ', vhost)),
        section('Details', details),
        section('Bindings from this exchange', out, isDefault ? h('p', { class: 'muted' }, 'The default exchange binds every queue by its name.') :
            form('bind', [
                field('To', select('destination_type', [['q', 'queue'], ['e', 'exchange']], 'q')),
                field('Name', input('destination', { required: true })),
                field('Routing key', input('routing_key')),
                field('Arguments', h('textarea', { name: 'arguments', rows: 2 }), 'a JSON object'),
            ], 'Bind', v => attempt(async () => {
                await api.post('bindings/' + api.path(vhost, 'e', name, v.destination_type, v.destination),
                    { routing_key: v.routing_key, arguments: parseJsonObject(v.arguments, 'Arguments') });
                await drawBindings();
            }, 'Bound'))),
        section('Bindings to this exchange', into),
        fold('Publish message', publishForm(vhost, shown, '')),
        isDefault || name.startsWith('amq.') ? null : section('Danger zone', h('div', { class: 'actions' },
            confirmButton('Delete', () => attempt(async () => { await api.del(where); location.hash = '#/exchanges'; }, 'Exchange ' + name + ' deleted')))));
    ctx.every(10000, drawBindings);
}
