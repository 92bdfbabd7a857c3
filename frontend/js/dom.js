// Building DOM without innerHTML: every piece of data becomes a text node, so
// nothing a user typed (or an imported file contained) can turn into markup.

/**
 * h('a', {href: '/x', class: 'btn', onclick: fn}, 'text', child, [more])
 * Attribute values are set with setAttribute (or as properties for on*,
 * `dataset` and boolean `true`); children may be strings, numbers, nodes,
 * arrays of those, null or false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

export const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const statusEl = () => document.getElementById('status');
const alertEl = () => document.getElementById('alert');
let statusTimer = null;

/** A polite message for sighted users and screen readers alike. */
export function announce(message, {timeout = 4000} = {}) {
  const el = statusEl();
  if (!el) return;
  el.textContent = message;
  el.classList.add('visible');
  clearTimeout(statusTimer);
  if (timeout) statusTimer = setTimeout(() => el.classList.remove('visible'), timeout);
}

/** An error the person must see; stays until dismissed or replaced. */
export function showError(message) {
  const el = alertEl();
  if (!el) return;
  if (!message) {
    el.classList.remove('visible');
    el.replaceChildren();
    return;
  }
  el.replaceChildren(
    h('span', {}, message),
    h('button', {type: 'button', class: 'link', onclick: () => showError(null), 'aria-label': 'Dismiss'}, '×'),
  );
  el.classList.add('visible');
}

export function percent(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return `${(value * 100).toFixed(digits)} %`;
}

export function formatDate(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return date.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'short'});
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A v4 UUID; crypto.randomUUID exists only on secure origins, getRandomValues everywhere. */
export function uuid4() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A keyboard key as shown in the on-screen key list. */
export const kbd = (...keys) => keys.map((key, i) => [i ? '+' : null, h('kbd', {}, key)]);

/**
 * A progress bar: `{el, set(fraction, text)}`; `fraction` null draws it empty
 * with only `text` (a state whose share is unknown). `ok` colours it as done.
 */
export function progressBar(label, {ok = false} = {}) {
  const fill = h('span');
  const el = h('div', {class: `bar${ok ? ' ok' : ''}`, role: 'progressbar', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100'}, fill);
  return {
    el,
    set(fraction, text) {
      const pct = fraction === null ? null : Math.round(100 * Math.max(0, Math.min(1, fraction)));
      fill.style.width = `${pct ?? 0}%`;
      if (pct === null) el.removeAttribute('aria-valuenow');
      else el.setAttribute('aria-valuenow', String(pct));
      el.setAttribute('aria-valuetext', text || `${pct} %`);
      return this;
    },
  };
}
