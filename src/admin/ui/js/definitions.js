// Definitions: export (download the JSON, of the broker or one vhost) and import (a file or pasted JSON).
import * as api from './api.js';
import { h, clear, section, field, select, form, attempt, notice } from './dom.js';

export async function definitionsPage(main, params, ctx) {
    document.title = 'Warren: definitions';
    const vhosts = (await api.get('vhosts')).map(v => v.name);
    const scope = [['', 'All virtual hosts (the whole broker)'], ...vhosts.map(v => [v, v])];
    const where = vhost => vhost ? 'definitions/' + api.path(vhost) : 'definitions';
    const download = h('p', { class: 'download' });
    const fileInput = h('input', { type: 'file', name: 'file', accept: '.json,application/json' });
    clear(main, h('h1', {}, 'Definitions'),
        section('Export', h('p', { class: 'muted' }, 'Users, virtual hosts, permissions, policies, queues, exchanges and bindings, as rabbitmqctl export_definitions writes them.'),
            form('export', [field('Virtual host', select('vhost', scope, ''))], 'Download definitions', v => attempt(async () => {
                const defs = await api.get(where(v.vhost));
                const text = JSON.stringify(defs, null, 2);
                const blob = new Blob([text], { type: 'application/json' });
                const name = 'warren-definitions' + (v.vhost ? '-' + v.vhost.replace(/[^A-Za-z0-9_.-]/g, '_') : '') + '.json';
                const a = h('a', { href: URL.createObjectURL(blob), download: name }, 'Save ' + name);
                clear(download, a, h('details', {}, h('summary', {}, 'Show them'), h('pre', { class: 'exported' }, text)));
                a.click();
            })), download),
        section('Import', h('p', { class: 'muted' }, 'Adds and replaces what the file names; nothing else is deleted.'),
            form('import', [
                field('Virtual host', select('vhost', scope, '')),
                field('Definitions file', fileInput),
                field('or pasted JSON', h('textarea', { name: 'text', rows: 6 })),
            ], 'Upload definitions', v => attempt(async () => {
                const text = fileInput.files.length ? await fileInput.files[0].text() : v.text;
                if (!text.trim()) throw new Error('Choose a file or paste the definitions.');
                try { JSON.parse(text); } catch (e) { throw new Error('The definitions are not JSON: ' + e.message); }
                await api.request('POST', where(v.vhost), text);
                notice('Definitions imported.');
            }))));
}
