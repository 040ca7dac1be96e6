// A small live line chart on a canvas: a few series sampled over the last minutes, with a legend.
import { h } from './dom.js';

const COLOURS = ['#2f7ed8', '#e4572e', '#29a745', '#a05ec8', '#f2a900', '#17a2b8'];

export class LiveChart {
    // series: [{key, label}]; format: value -> text for the legend and the scale.
    constructor(title, series, format, points = 60) {
        this.series = series.map((s, i) => Object.assign({ colour: COLOURS[i % COLOURS.length] }, s));
        this.format = format;
        this.points = points;
        this.samples = []; // [{t, values: {key: n}}]
        this.canvas = h('canvas', { class: 'chart', role: 'img', 'aria-label': title });
        this.legend = h('ul', { class: 'legend' });
        this.el = h('figure', { class: 'chartbox' }, h('figcaption', {}, title), this.canvas, this.legend);
        this.resize = () => this.draw();
        window.addEventListener('resize', this.resize);
    }

    push(values) {
        this.samples.push({ t: Date.now(), values });
        if (this.samples.length > this.points) this.samples.shift();
        this.draw();
    }

    destroy() {
        window.removeEventListener('resize', this.resize);
    }

    draw() {
        const c = this.canvas, ratio = window.devicePixelRatio || 1;
        const width = c.clientWidth || 300, height = c.clientHeight || 120;
        c.width = Math.round(width * ratio);
        c.height = Math.round(height * ratio);
        const g = c.getContext('2d');
        g.setTransform(ratio, 0, 0, ratio, 0, 0);
        g.clearRect(0, 0, width, height);
        let max = 0;
        for (const s of this.samples)
            for (const se of this.series) max = Math.max(max, s.values[se.key] || 0);
        max = niceCeiling(max);
        const left = 48, right = 8, top = 8, bottom = 18;
        const w = width - left - right, ht = height - top - bottom;
        g.font = '11px system-ui, sans-serif';
        g.fillStyle = '#667';
        g.strokeStyle = '#e3e6ea';
        g.lineWidth = 1;
        for (let i = 0; i <= 4; i++) { // the scale: five lines from 0 to max
            const y = top + ht - (ht * i) / 4;
            g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + w, y + 0.5); g.stroke();
            g.textAlign = 'right'; g.textBaseline = 'middle';
            g.fillText(this.format((max * i) / 4), left - 4, y);
        }
        g.textAlign = 'left'; g.textBaseline = 'top';
        g.fillText(spanText(this.samples), left, top + ht + 4);
        const n = this.samples.length;
        for (const se of this.series) {
            g.strokeStyle = se.colour;
            g.lineWidth = 2;
            g.beginPath();
            this.samples.forEach((s, i) => {
                const x = left + (n > 1 ? (w * i) / (n - 1) : w); // the samples there are, stretched
                const y = top + ht - (ht * (s.values[se.key] || 0)) / max;
                if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
            });
            g.stroke();
            if (n) { // the latest value as a dot, so one sample shows at once
                const y = top + ht - (ht * (this.samples[n - 1].values[se.key] || 0)) / max;
                g.fillStyle = se.colour;
                g.beginPath(); g.arc(left + w, y, 3, 0, 2 * Math.PI); g.fill();
            }
        }
        const last = n ? this.samples[n - 1].values : {};
        this.legend.replaceChildren(...this.series.map(se => h('li', {},
            h('span', { class: 'swatch', style: 'background:' + se.colour }), se.label + ' ',
            h('b', { 'data-series': se.key }, last[se.key] === undefined ? '–' : this.format(last[se.key])))));
    }
}

function niceCeiling(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
}

function spanText(samples) {
    if (samples.length < 2) return 'sampling…';
    const s = Math.round((samples[samples.length - 1].t - samples[0].t) / 1000);
    return 'last ' + (s >= 120 ? Math.round(s / 60) + ' min' : s + ' s');
}
