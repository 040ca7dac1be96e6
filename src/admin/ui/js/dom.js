// Small DOM helpers: elements, tables, forms, notices. Text goes in as text, never as HTML.

// h('a', {href: '#/x', onclick: f, class: 'c'}, 'text', child...): one element.
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'value') el.value = v;
        else if (k === 'style') el.style.cssText = v; // CSSOM: the page's CSP refuses style attributes
        else if (k === 'checked') el.checked = !!v;
        else el.setAttribute(k, v === true ? '' : v);
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children.flat(Infinity)) {
        if (c === undefined || c === null || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
}

export function clear(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
}

// A short message at the top of the page; errors stay until clicked.
export function notice(text, kind = 'ok') {
    const box = document.getElementById('notices');
    const n = h('div', { class: 'notice ' + kind, onclick: () => n.remove() }, text);
    box.append(n);
    if (kind === 'ok') setTimeout(() => n.remove(), 4000);
}

// Runs an action, reporting its failure (or success text) as a notice; resolves to whether it worked.
export async function attempt(action, done) {
    try {
        await action();
        if (done) notice(done);
        return true;
    } catch (e) {
        notice(e.message, 'error');
        return false;
    }
}

// A button that asks once more before acting (no blocking dialogs).
export function confirmButton(label, action, cls = 'danger') {
    let armed = null;
    const b = h('button', { type: 'button', class: cls, onclick: () => {
        if (!armed) {
            b.textContent = 'Really ' + label.toLowerCase() + '?';
            armed = setTimeout(() => { armed = null; b.textContent = label; }, 4000);
            return;
        }
        clearTimeout(armed);
        armed = null;
        b.textContent = label;
        action();
    } }, label);
    return b;
}

// columns: [{label, value: row => text/Node, sort: key, num: bool}]; sort: {key, reverse, onSort}.
export function table(columns, rows, sort) {
    const head = h('tr', {}, columns.map(c => {
        let label = c.label;
        if (sort && c.sort) {
            const on = sort.key === c.sort;
            label = h('button', { type: 'button', class: 'sort' + (on ? ' on' : ''),
                onclick: () => sort.onSort(c.sort, on ? !sort.reverse : false) },
                c.label, on ? (sort.reverse ? ' ▼' : ' ▲') : '');
        }
        return h('th', { class: c.num ? 'num' : null }, label);
    }));
    const body = rows.length
        ? rows.map(r => h('tr', {}, columns.map(c => h('td', { class: c.num ? 'num' : null, 'data-label': c.label }, c.value(r)))))
        : [h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, '… none …'))];
    return h('div', { class: 'scroll' }, h('table', { class: 'list' }, h('thead', {}, head), h('tbody', {}, body)));
}

// A two-column table of name → value.
export function facts(pairs) {
    return h('table', { class: 'facts' }, h('tbody', {}, pairs.filter(p => p).map(([k, v]) =>
        h('tr', {}, h('th', {}, k), h('td', {}, v)))));
}

export function section(title, ...children) {
    return h('section', { class: 'panel' }, h('h2', {}, title), children);
}

// A collapsible section, closed by default (RabbitMQ's "Add a new queue" and the like).
export function fold(title, ...children) {
    return h('details', { class: 'panel' }, h('summary', {}, title), children);
}

// A labelled form field.
export function field(label, input, hint) {
    return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', {}, hint) : null);
}

export function input(name, attrs = {}) {
    return h('input', Object.assign({ name, type: 'text' }, attrs));
}

export function select(name, options, value) {
    return h('select', { name }, options.map(o => {
        const [v, label] = Array.isArray(o) ? o : [o, o];
        return h('option', { value: v, selected: v === value ? true : null }, label);
    }));
}

// A form whose submit runs handler(values) with every named field's value (checkboxes as booleans).
export function form(cls, fields, submitLabel, handler) {
    const f = h('form', { class: 'form ' + (cls || '') }, fields,
        h('div', { class: 'actions' }, h('button', { type: 'submit' }, submitLabel)));
    f.addEventListener('submit', ev => {
        ev.preventDefault();
        const values = {};
        for (const el of f.elements) {
            if (!el.name) continue;
            values[el.name] = el.type === 'checkbox' ? el.checked : el.value;
        }
        handler(values, f);
    });
    return f;
}

// A JSON object typed by the user; empty text is {}. Throws a readable error otherwise.
export function parseJsonObject(text, what) {
    if (!text || !text.trim()) return {};
    let v;
    try { v = JSON.parse(text); } catch (e) { throw new Error(what + ' is not JSON: ' + e.message); }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(what + ' must be a JSON object');
    return v;
}

export function link(hash, text) {
    return h('a', { href: hash }, text);
}

// Offers a Blob to the browser as a file to save: an <a download> at an object URL, clicked
// (a plain link could not carry the API's Authorization header).
export function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// Replaces a select's options ([value, label] pairs) only when they changed, keeping the choice
// (a poll that redrew them each time would close the list under the user's pointer).
export function setOptions(sel, options, emptyLabel) {
    const key = JSON.stringify(options);
    if (sel.dataset.options === key) return;
    sel.dataset.options = key;
    const was = sel.value;
    sel.replaceChildren(...(options.length ? options : [['', emptyLabel]]).map(([v, label]) =>
        h('option', { value: v, selected: v === was ? true : null }, label)));
}
