"""What the web UI's browser tests share: forms filled through the DevTools protocol,
screenshots checked for content, API reads waited for."""

import json
import os
import time

import cdp
from checks import build_tree_dir, check

SHOTS = build_tree_dir("ui-screenshots")
# A page with text, tables and charts has hundreds of colours (anti-aliasing); a blank or
# error page a handful.
MIN_COLOURS = 40


def js(value):
    return json.dumps(value)


def fill_and_submit(b, form_css, values):
    """Opens the form's <details>, sets its fields in order (each with its input and change
    events) and clicks its submit button."""
    if not b.wait_for("!!document.querySelector(%s)" % js(form_css)):
        check(False, "the page has %s" % form_css)
        return False
    return b.eval("""(() => {
        const f = document.querySelector(%s);
        if (!f) return false;
        for (let d = f.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
        for (const [k, v] of Object.entries(%s)) {
            const el = f.elements[k];
            if (el.type === 'checkbox') el.checked = v; else el.value = v;
            el.dispatchEvent(new Event('input', {bubbles: true}));
            el.dispatchEvent(new Event('change', {bubbles: true}));
        }
        f.querySelector('button[type=submit]').click();
        return true;
    })()""" % (js(form_css), js(values)))


def shot(b, name):
    """Saves a screenshot under the build tree's ui-screenshots and checks it is not blank."""
    path = os.path.join(SHOTS, name + ".png")
    b.screenshot(path)
    colours = cdp.png_colours(b.screenshot(scale=0.25))  # a quarter of the size is quick to read
    check(colours >= MIN_COLOURS, "screenshot %s has %d colours (at least %d: not blank)"
          % (path, colours, MIN_COLOURS))


def wait_api(read, seconds=5):
    """Polls an API read until it is truthy (the form's request may still be in flight)."""
    deadline = time.monotonic() + seconds
    while True:
        v = read()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)
