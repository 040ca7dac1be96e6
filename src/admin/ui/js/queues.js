// The queue list: sorted, filtered and paged by the API (?sort=&name=&page=), and the form to add one.
import * as api from './api.js';
import { h, clear, table, fold, field, input, select, form, attempt, parseJsonObject, link } from './dom.js';
import * as fmt from './format.js';

const PAGE_SIZE = 100;

export function queueHash(q) {
    return '#/queues/' + api.path(q.vhost, q.name);
}

// Which list the user looks at: kept while the UI is open, as RabbitMQ's UI keeps it.
const view = { filter: '', regex: false, sort: 'name', reverse: false, page: 1 };

export async function queuesPage(main, params, ctx) {
    document.title = 'Warren: queues';
    const list = h('div', { id: 'queue-list' });
    const count = h('span', { class: 'muted' });
    const filter = input('filter', { value: view.filter, placeholder: 'Filter by name', type: 'search', id: 'queue-filter' });
    const regex = h('input', { type: 'checkbox', checked: view.regex });
    const refresh = () => draw().catch(e => ctx.app.failed(e));
    filter.addEventListener('input', () => { view.filter = filter.value; view.page = 1; refresh(); });
    regex.addEventListener('change', () => { view.regex = regex.checked; view.page = 1; refresh(); });
    const vhosts = (await api.get('vhosts')).map(v => v.name);
    clear(main, h('h1', {}, 'Queues ', count),
        h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, regex, ' Regex')),
        list, addQueueForm(vhosts, refresh));

    async function draw() {
        const q = new URLSearchParams({ page: view.page, page_size: PAGE_SIZE, name: view.filter,
            use_regex: view.regex, sort: view.sort, sort_reverse: view.reverse, pagination: true });
        let answer;
        try {
            answer = await api.get('queues?' + q);
        } catch (e) {
            if (e.status !== 400) throw e;
            clear(list, h('p', { class: 'muted' }, e.message)); // a bad regex, say
            return;
        }
        count.textContent = '(' + answer.filtered_count + (answer.filtered_count !== answer.total_count ? ' of ' + answer.total_count : '') + ')';
        const sort = { key: view.sort, reverse: view.reverse,
            onSort: (key, reverse) => { view.sort = key; view.reverse = reverse; refresh(); } };
        clear(list, table([
            { label: 'Virtual host', value: r => r.vhost, sort: 'vhost' },
            { label: 'Name', value: r => link(queueHash(r), r.name), sort: 'name' },
            { label: 'Type', value: r => r.type, sort: 'type' },
            { label: 'Features', value: r => h('span', { title: fmt.value(r.arguments) }, fmt.features(r)) },
            { label: 'Policy', value: r => r.policy || '' },
            { label: 'State', value: r => r.state, sort: 'state' },
            { label: 'Ready', value: r => fmt.num(r.messages_ready), sort: 'messages_ready', num: true },
            { label: 'Unacked', value: r => fmt.num(r.messages_unacknowledged), sort: 'messages_unacknowledged', num: true },
            { label: 'Total', value: r => h('span', { class: 'total' }, fmt.num(r.messages)), sort: 'messages', num: true },
            { label: 'Consumers', value: r => fmt.num(r.consumers), sort: 'consumers', num: true },
            { label: 'Incoming', value: r => fmt.rate(fmt.detailRate(r.message_stats, 'publish')), num: true },
            { label: 'Deliver / get', value: r => fmt.rate(fmt.detailRate(r.message_stats, 'deliver_get')), num: true },
        ], answer.items, sort), pager(answer, p => { view.page = p; refresh(); }));
    }
    ctx.every(5000, draw);
}

function pager(answer, go) {
    if (answer.page_count <= 1) return null;
    return h('div', { class: 'pager' },
        h('button', { type: 'button', disabled: answer.page <= 1, onclick: () => go(answer.page - 1) }, '‹ Previous'),
        ' page ' + answer.page + ' of ' + answer.page_count + ' ',
        h('button', { type: 'button', disabled: answer.page >= answer.page_count, onclick: () => go(answer.page + 1) }, 'Next ›'));
}

function addQueueForm(vhosts, refresh) {
    return fold('Add a queue', form('add-queue', [
        field('Virtual host', select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0])),
        field('Type', select('type', ['classic', 'quorum'], 'classic')),
        field('Name', input('name', { required: true })),
        field('Durable', h('input', { type: 'checkbox', name: 'durable', checked: true })),
        field('Auto delete', h('input', { type: 'checkbox', name: 'auto_delete' })),
        field('Arguments', h('textarea', { name: 'arguments', rows: 3, placeholder: '{"x-max-length": 1000}' }), 'a JSON object'),
    ], 'Add queue', (v, f) => attempt(async () => {
        const args = parseJsonObject(v.arguments, 'Arguments');
        if (v.type !== 'classic') args['x-queue-type'] = v.type;
        await api.put('queues/' + api.path(v.vhost, v.name),
            { durable: v.durable, auto_delete: v.auto_delete, arguments: args });
        f.elements.name.value = '';
        refresh();
    }, 'Queue ' + v.name + ' added')));
}
