// Policies (and operator policies): the lists, and a form that adds or replaces one.
import * as api from './api.js';
import { h, clear, section, table, field, input, select, form, attempt, confirmButton, parseJsonObject } from './dom.js';
import * as fmt from './format.js';

const APPLY_TO = [['all', 'exchanges and queues'], ['queues', 'queues'], ['classic_queues', 'classic queues'],
    ['quorum_queues', 'quorum queues'], ['exchanges', 'exchanges']];

function policyTable(kind, list, redraw) {
    return table([
        { label: 'Virtual host', value: p => p.vhost },
        { label: 'Name', value: p => p.name },
        { label: 'Pattern', value: p => h('code', {}, p.pattern) },
        { label: 'Apply to', value: p => p['apply-to'] },
        { label: 'Definition', value: p => h('code', {}, fmt.value(p.definition)) },
        { label: 'Priority', value: p => p.priority, num: true },
        { label: '', value: p => confirmButton('Delete', () => attempt(async () => {
            await api.del(kind + '/' + api.path(p.vhost, p.name));
            redraw();
        }, 'Policy ' + p.name + ' deleted'), 'small') },
    ], list);
}

export async function policiesPage(main, params, ctx) {
    document.title = 'Warren: policies';
    const user = h('div'), operator = h('div');
    const vhosts = (await api.get('vhosts')).map(v => v.name);
    const draw = async () => {
        const [p, o] = await Promise.all([api.get('policies'), api.get('operator-policies')]);
        clear(user, policyTable('policies', p, draw));
        clear(operator, policyTable('operator-policies', o, draw));
    };
    const policyForm = kind => form('policy', [
        field('Virtual host', select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0])),
        field('Name', input('name', { required: true })),
        field('Pattern', input('pattern', { required: true, placeholder: '^amq\\.' }), 'a regular expression over names'),
        field('Apply to', select('apply-to', APPLY_TO, 'all')),
        field('Priority', input('priority', { type: 'number', value: 0 })),
        field('Definition', h('textarea', { name: 'definition', rows: 3, placeholder: '{"max-length": 1000}', required: true }), 'a JSON object'),
    ], 'Add / update policy', (v, f) => attempt(async () => {
        await api.put(kind + '/' + api.path(v.vhost, v.name), { pattern: v.pattern, 'apply-to': v['apply-to'],
            priority: Number(v.priority), definition: parseJsonObject(v.definition, 'Definition') });
        f.elements.name.value = '';
        await draw();
    }, 'Policy ' + v.name + ' set'));
    clear(main, h('h1', {}, 'Policies'),
        section('User policies', user, h('details', {}, h('summary', {}, 'Add / update a policy'), policyForm('policies'))),
        section('Operator policies', operator, h('details', {}, h('summary', {}, 'Add / update an operator policy'), policyForm('operator-policies'))));
    ctx.every(10000, draw);
}
