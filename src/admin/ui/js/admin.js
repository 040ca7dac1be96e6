// Users, virtual hosts and permissions: lists, forms to add and change them, and the pages of one.
import * as api from './api.js';
import { h, clear, section, fold, facts, table, field, input, select, form, attempt, confirmButton, link } from './dom.js';
import * as fmt from './format.js';

const TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];

function permissionTable(list, redraw, show) {
    return table([
        show === 'vhost' ? { label: 'Virtual host', value: p => link('#/vhosts/' + api.path(p.vhost), p.vhost) }
            : show === 'user' ? { label: 'User', value: p => link('#/users/' + api.path(p.user), p.user) } : null,
        show === 'both' ? { label: 'User', value: p => link('#/users/' + api.path(p.user), p.user) } : null,
        show === 'both' ? { label: 'Virtual host', value: p => link('#/vhosts/' + api.path(p.vhost), p.vhost) } : null,
        { label: 'Configure', value: p => h('code', {}, p.configure) },
        { label: 'Write', value: p => h('code', {}, p.write) },
        { label: 'Read', value: p => h('code', {}, p.read) },
        { label: '', value: p => confirmButton('Clear', () => attempt(async () => {
            await api.del('permissions/' + api.path(p.vhost, p.user));
            redraw();
        }, 'Permissions cleared'), 'small') },
    ].filter(c => c), list);
}

// Sets a user's permissions in a vhost; fixed: {user} or {vhost} the page already knows.
function permissionForm(users, vhosts, fixed, redraw) {
    return form('permissions', [
        fixed.user ? null : field('User', select('user', users, users[0])),
        fixed.vhost ? null : field('Virtual host', select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0])),
        field('Configure regexp', input('configure', { value: '.*' })),
        field('Write regexp', input('write', { value: '.*' })),
        field('Read regexp', input('read', { value: '.*' })),
    ], 'Set permission', v => attempt(async () => {
        const user = fixed.user || v.user, vhost = fixed.vhost || v.vhost;
        await api.put('permissions/' + api.path(vhost, user), { configure: v.configure, write: v.write, read: v.read });
        redraw();
    }, 'Permission set'));
}

export function usersPage(main, params, ctx) {
    document.title = 'Warren: users';
    const list = h('div');
    const draw = async () => {
        const [users, perms] = await Promise.all([api.get('users'), api.get('permissions')]);
        clear(list, table([
            { label: 'Name', value: u => link('#/users/' + api.path(u.name), u.name) },
            { label: 'Tags', value: u => (u.tags || []).join(', ') },
            { label: 'Can access virtual hosts', value: u => perms.filter(p => p.user === u.name).map(p => p.vhost).join(', ') || 'no access' },
            { label: 'Has password', value: u => fmt.yesNo(u.password_hash) },
        ], users));
    };
    clear(main, h('h1', {}, 'Users'), list, fold('Add a user', userForm(null, async name => { await draw(); location.hash = '#/users/' + api.path(name); })));
    ctx.every(10000, draw);
}

function userForm(user, done) {
    const tags = user ? user.tags || [] : [];
    return form('user', [
        user ? null : field('Username', input('name', { required: true, autocomplete: 'off' })),
        field('Password', input('password', { type: 'password', autocomplete: 'new-password' }), user ? 'empty: keep the current one' : 'empty: the user cannot log in with a password'),
        field('Tags', input('tags', { value: tags.join(','), list: 'tag-names' }), TAGS.join(', ')),
        h('datalist', { id: 'tag-names' }, TAGS.map(t => h('option', { value: t }))),
    ], user ? 'Update user' : 'Add user', v => {
        const name = user ? user.name : v.name;
        return attempt(async () => {
            const body = { tags: v.tags };
            if (v.password) body.password = v.password;
            else if (user) body.password_hash = user.password_hash;
            else body.password_hash = '';
            await api.put('users/' + api.path(name), body);
            await done(name);
        }, 'User ' + name + (user ? ' updated' : ' added'));
    });
}

export async function userPage(main, [name], ctx) {
    document.title = 'Warren: user ' + name;
    const details = h('div'), perms = h('div'), edit = h('div');
    const vhosts = (await api.get('vhosts')).map(v => v.name);
    const draw = async () => {
        const [u, p] = await Promise.all([api.get('users/' + api.path(name)), api.get('users/' + api.path(name) + '/permissions')]);
        clear(details, facts([['Tags', (u.tags || []).join(', ') || 'none'], ['Password hashing', u.hashing_algorithm],
            ['Limits', Object.keys(u.limits || {}).length ? fmt.value(u.limits) : 'none']]));
        clear(perms, permissionTable(p, draw, 'vhost'));
        if (!edit.firstChild) clear(edit, userForm(u, draw));
    };
    clear(main, h('h1', {}, 'User ', h('span', { class: 'name' }, name)), section('Details', details),
        section('Permissions', perms, permissionForm([], vhosts, { user: name }, () => draw())),
        fold('Update this user', edit),
        section('Danger zone', h('div', { class: 'actions' }, confirmButton('Delete', () => attempt(async () => {
            await api.del('users/' + api.path(name));
            location.hash = '#/users';
        }, 'User ' + name + ' deleted')))));
    await draw();
}

export function vhostsPage(main, params, ctx) {
    document.title = 'Warren: virtual hosts';
    const list = h('div');
    const draw = async () => {
        clear(list, table([
            { label: 'Name', value: v => link('#/vhosts/' + api.path(v.name), v.name) },
            { label: 'Description', value: v => v.description || '' },
            { label: 'Tags', value: v => (v.tags || []).join(', ') },
            { label: 'Tracing', value: v => fmt.yesNo(v.tracing) },
            { label: 'Ready', value: v => fmt.num(v.messages_ready), num: true },
            { label: 'Unacked', value: v => fmt.num(v.messages_unacknowledged), num: true },
            { label: 'Total', value: v => fmt.num(v.messages), num: true },
        ], await api.get('vhosts')));
    };
    clear(main, h('h1', {}, 'Virtual hosts'), list, fold('Add a virtual host', form('vhost', [
        field('Name', input('name', { required: true })),
        field('Description', input('description')),
        field('Tags', input('tags'), 'comma-separated'),
    ], 'Add virtual host', (v, f) => attempt(async () => {
        await api.put('vhosts/' + api.path(v.name), { description: v.description, tags: v.tags });
        f.reset();
        await draw();
    }, 'Virtual host ' + v.name + ' added'))));
    ctx.every(10000, draw);
}

export async function vhostPage(main, [name], ctx) {
    document.title = 'Warren: virtual host ' + name;
    const details = h('div'), perms = h('div');
    const users = (await api.get('users')).map(u => u.name);
    const draw = async () => {
        const [v, p] = await Promise.all([api.get('vhosts/' + api.path(name)), api.get('vhosts/' + api.path(name) + '/permissions')]);
        clear(details, facts([['Description', v.description || ''], ['Tags', (v.tags || []).join(', ')],
            ['Messages', fmt.num(v.messages)], ['Tracing', fmt.yesNo(v.tracing)]]));
        clear(perms, permissionTable(p, draw, 'user'));
    };
    clear(main, h('h1', {}, 'Virtual host ', h('span', { class: 'name' }, name)), section('Details', details),
        section('Permissions', perms, permissionForm(users, [], { vhost: name }, () => draw())),
        section('Danger zone', h('div', { class: 'actions' }, confirmButton('Delete', () => attempt(async () => {
            await api.del('vhosts/' + api.path(name));
            location.hash = '#/vhosts';
        }, 'Virtual host ' + name + ' deleted')))));
    ctx.every(10000, draw);
}

export async function permissionsPage(main, params, ctx) {
    document.title = 'Warren: permissions';
    const list = h('div');
    const [users, vhosts] = await Promise.all([api.get('users'), api.get('vhosts')]);
    const draw = async () => { clear(list, permissionTable(await api.get('permissions'), draw, 'both')); };
    clear(main, h('h1', {}, 'Permissions'), list,
        section('Set a permission', permissionForm(users.map(u => u.name), vhosts.map(v => v.name), {}, () => draw())));
    ctx.every(10000, draw);
}
