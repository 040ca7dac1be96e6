// The management API over fetch: basic auth from the credentials the login keeps in sessionStorage.
const KEY = 'warren.credentials';

export function haveCredentials() {
    return sessionStorage.getItem(KEY) !== null;
}

// user:password as UTF-8, base64'd for the Authorization header.
export function storeCredentials(user, password) {
    const bytes = new TextEncoder().encode(user + ':' + password);
    let binary = '';
    bytes.forEach(b => { binary += String.fromCharCode(b); });
    sessionStorage.setItem(KEY, btoa(binary));
}

export function forgetCredentials() {
    sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
    constructor(status, error, reason) {
        super(reason || error || ('HTTP ' + status));
        this.status = status;
        this.error = error;
    }
}

// A path below /api from its parts, each one URL-encoded ('/' in a vhost becomes %2F).
export function path(...parts) {
    return parts.map(p => encodeURIComponent(p)).join('/');
}

// Sends one request; resolves to the parsed JSON answer (null when empty), rejects with ApiError.
export async function request(method, where, body, headers = {}) {
    const h = Object.assign({ authorization: 'Basic ' + sessionStorage.getItem(KEY) }, headers);
    // credentials 'omit': the header above is ours, and a 401 with a challenge (a wrong
    // password) must come back to the page, not open the browser's own login dialog.
    const init = { method, headers: h, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
        h['content-type'] = 'application/json';
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    // Relative, so a UI served under a path prefix reaches the API beside it.
    const res = await fetch('api/' + where, init);
    const text = await res.text();
    let data = null;
    if (text) {
        try { data = JSON.parse(text); } catch (e) { data = text; }
    }
    if (!res.ok) {
        const error = data && data.error, reason = data && data.reason;
        throw new ApiError(res.status, error, reason);
    }
    return data;
}

export const get = where => request('GET', where);
export const put = (where, body) => request('PUT', where, body === undefined ? {} : body);
export const post = (where, body) => request('POST', where, body === undefined ? {} : body);
export const del = (where, headers) => request('DELETE', where, undefined, headers);
