// The login form: basic auth checked against /api/whoami, as RabbitMQ's UI does it.
import * as api from './api.js';
import { h, field, input } from './dom.js';

export function loginPage(onLogin) {
    const message = h('p', { class: 'login-error', role: 'alert' });
    const user = input('username', { autocomplete: 'username', required: true, autofocus: true });
    const pass = input('password', { type: 'password', autocomplete: 'current-password' });
    const f = h('form', { class: 'login', id: 'login' },
        h('h1', {}, 'Warren Management'),
        field('Username', user), field('Password', pass),
        h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Log in')), message);
    f.addEventListener('submit', async ev => {
        ev.preventDefault();
        message.textContent = '';
        api.storeCredentials(user.value, pass.value);
        try {
            const who = await api.get('whoami');
            onLogin(who);
        } catch (e) {
            api.forgetCredentials();
            message.textContent = refusal(e, user.value);
        }
    });
    setTimeout(() => user.focus()); // autofocus counts only for a page's first parse
    return f;
}

function refusal(e, name) {
    if (e.status === 401 && /management/i.test(e.message))
        return 'User "' + name + '" may not use the management UI: it needs one of the tags ' +
            'management, policymaker, monitoring or administrator.';
    if (e.status === 401)
        return 'Login failed: unknown user or wrong password.';
    return 'Could not log in: ' + e.message;
}
