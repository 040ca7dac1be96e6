// The UI's shell: the navigation, the router from #/ paths (RabbitMQ's) to pages, and the login state.
import * as api from './api.js';
import { h, clear, notice } from './dom.js';
import { loginPage } from './login.js';
import { overviewPage } from './overview.js';
import { queuesPage } from './queues.js';
import { queuePage } from './queue.js';
import { exchangesPage, exchangePage } from './exchanges.js';
import { connectionsPage, connectionPage, channelsPage, channelPage } from './connections.js';
import { usersPage, userPage, vhostsPage, vhostPage, permissionsPage } from './admin.js';
import { policiesPage } from './policies.js';
import { definitionsPage } from './definitions.js';

// The navigation, in order; a page for another API adds one line here and one to ROUTES.
// admin: shown to administrators only (the API refuses the others anyway).
const NAV = [
    { hash: '#/', label: 'Overview' },
    { hash: '#/connections', label: 'Connections' },
    { hash: '#/channels', label: 'Channels' },
    { hash: '#/exchanges', label: 'Exchanges' },
    { hash: '#/queues', label: 'Queues' },
    { hash: '#/users', label: 'Users', admin: true },
    { hash: '#/vhosts', label: 'Virtual hosts', admin: true },
    { hash: '#/permissions', label: 'Permissions', admin: true },
    { hash: '#/policies', label: 'Policies' },
    { hash: '#/definitions', label: 'Definitions', admin: true },
];

// [pattern over the part after '#', page]; each (...) is one URL-encoded name.
const ROUTES = [
    [/^\/?$/, overviewPage],
    [/^\/connections$/, connectionsPage],
    [/^\/connections\/([^/]+)$/, connectionPage],
    [/^\/channels$/, channelsPage],
    [/^\/channels\/([^/]+)$/, channelPage],
    [/^\/exchanges$/, exchangesPage],
    [/^\/exchanges\/([^/]+)\/([^/]*)$/, exchangePage],
    [/^\/queues$/, queuesPage],
    [/^\/queues\/([^/]+)\/([^/]+)$/, queuePage],
    [/^\/users$/, usersPage],
    [/^\/users\/([^/]+)$/, userPage],
    [/^\/vhosts$/, vhostsPage],
    [/^\/vhosts\/([^/]+)$/, vhostPage],
    [/^\/permissions$/, permissionsPage],
    [/^\/policies$/, policiesPage],
    [/^\/policies\/([^/]+)\/([^/]+)$/, policiesPage], // RabbitMQ's page of one policy: the list here
    [/^\/definitions$/, definitionsPage],
];

// What a page gets: the user, a timer that stops when the page is left, and a way to leave.
class PageContext {
    constructor(app) {
        this.app = app;
        this.user = app.user;
        this.timers = [];
        this.cleanups = [];
        this.live = true;
    }
    // Runs fn now and every ms while the page is shown; one run at a time.
    every(ms, fn) {
        let busy = false;
        const run = async () => {
            if (busy || !this.live) return;
            busy = true;
            try {
                await fn();
            } catch (e) {
                if (e.status === 404) this.gone(); else this.app.failed(e);
            } finally {
                busy = false;
            }
        };
        run();
        this.timers.push(setInterval(run, ms));
    }
    onLeave(fn) { this.cleanups.push(fn); }
    // What the page shows was deleted (by this page or anyone): say so once, stop polling.
    gone() {
        if (!this.live) return;
        this.leave();
        this.app.main.prepend(h('p', { class: 'gone' }, 'This no longer exists (the API answers 404 Not Found). ',
            h('a', { href: '#/' }, 'The overview.')));
    }
    isAdmin() { return this.user.tags.includes('administrator'); }
    leave() {
        this.live = false;
        this.timers.forEach(clearInterval);
        this.cleanups.forEach(f => f());
    }
}

class App {
    constructor() {
        this.main = document.getElementById('main');
        this.nav = document.getElementById('nav');
        this.who = document.getElementById('who');
        this.page = null;
        this.user = null;
        window.addEventListener('hashchange', () => this.route());
    }

    async start() {
        if (api.haveCredentials()) {
            try {
                this.user = await api.get('whoami');
            } catch (e) {
                api.forgetCredentials();
            }
        }
        this.route();
    }

    loggedIn(user) {
        this.user = user;
        this.route();
    }

    logout() {
        api.forgetCredentials();
        this.user = null;
        this.route();
    }

    // A page's failure: the login again when the credentials no longer work, else a notice.
    failed(e) {
        if (e.status === 401 && e.error === 'not_authorized') {
            notice('Logged out: ' + e.message, 'error');
            this.logout();
        } else {
            notice(e.message, 'error');
        }
    }

    drawChrome() {
        const here = location.hash || '#/';
        clear(this.nav, this.user ? NAV.filter(n => !n.admin || this.user.tags.includes('administrator')).map(n => {
            const on = n.hash === '#/' ? here === '#/' || here === '#' : here.startsWith(n.hash);
            return h('a', { href: n.hash, class: on ? 'on' : null }, n.label);
        }) : []);
        clear(this.who, this.user ? [h('span', { class: 'user' }, this.user.name),
            h('button', { type: 'button', class: 'small', onclick: () => this.logout() }, 'Log out')] : []);
    }

    route() {
        if (this.page) this.page.leave();
        this.page = null;
        document.getElementById('notices').replaceChildren();
        this.drawChrome();
        if (!this.user) {
            document.title = 'Warren: log in';
            clear(this.main, loginPage(user => this.loggedIn(user)));
            return;
        }
        const where = (location.hash || '#/').slice(1);
        for (const [pattern, page] of ROUTES) {
            const m = where.match(pattern);
            if (!m) continue;
            const ctx = this.page = new PageContext(this);
            clear(this.main);
            let params;
            try {
                params = m.slice(1).map(decodeURIComponent);
            } catch (e) {
                break;
            }
            Promise.resolve(page(this.main, params, ctx)).catch(e => this.failed(e));
            return;
        }
        clear(this.main, h('h1', {}, 'Not found'), h('p', {}, 'No page is at ', where, '. ',
            h('a', { href: '#/' }, 'The overview.')));
    }
}

new App().start();
