// How numbers, bytes, rates, times and JSON values are shown.

export function num(n) {
    if (n === undefined || n === null) return '';
    return Number(n).toLocaleString('en');
}

export function rate(r) {
    if (r === undefined || r === null) return '';
    const v = Number(r);
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/s';
}

export function bytes(n) {
    if (n === undefined || n === null) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Number(n), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
}

export function time(ms) {
    return ms ? new Date(ms).toLocaleString() : '';
}

// A rate from RabbitMQ's X_details {rate}, or undefined.
export function detailRate(stats, key) {
    const d = stats && stats[key + '_details'];
    return d ? d.rate : undefined;
}

export function yesNo(b) {
    return b ? 'yes' : 'no';
}

// Queue and exchange features as RabbitMQ's short tags: D, AD, Excl, Args…
export function features(o) {
    const f = [];
    if (o.durable) f.push('D');
    if (o.auto_delete) f.push('AD');
    if (o.exclusive) f.push('Excl');
    if (o.internal) f.push('I');
    if (o.arguments && Object.keys(o.arguments).length) f.push('Args');
    return f.join(' ');
}

export function json(v) {
    return JSON.stringify(v, null, 2);
}

// A value of an arguments or properties table, short and on one line.
export function value(v) {
    if (v === null || v === undefined) return '';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
