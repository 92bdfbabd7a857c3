// The JSON API client: CSRF, the error shape {error: {code, message, fields}},
// retries with backoff for transient failures, and the outbox, a queue of
// submissions kept in localStorage until the server has them.

import {sleep, uuid4} from './dom.js';

export class ApiError extends Error {
  constructor(status, code, message, fields = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

/** The request never got an answer: offline, server down, connection reset. */
class NetworkError extends Error {
  constructor(message = 'No connection to the server.') {
    super(message);
    this.name = 'NetworkError';
  }
}

/** Worth trying again later: no answer, or the server (not the request) failed. */
export function isTransient(error) {
  return error instanceof NetworkError || (error instanceof ApiError && (error.status >= 500 || error.status === 429));
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

export function csrfToken() {
  return cookie('csrftoken') || document.querySelector('meta[name="csrf-token"]')?.content || '';
}

/** Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... capped. */
function backoff(attempt, {base = 500, cap = 30000} = {}) {
  const delay = Math.min(cap, base * 2 ** attempt);
  return delay / 2 + Math.random() * (delay / 2);
}

let unauthenticatedHandler = null;
/** Called (once per page) when the session is gone: the app sends the person to the login page. */
export function onUnauthenticated(handler) {
  unauthenticatedHandler = handler;
}

async function once(method, url, body, {timeout = 20000} = {}) {
  const headers = {Accept: 'application/json'};
  const init = {method, headers, credentials: 'same-origin'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = csrfToken();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  init.signal = controller.signal;
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new NetworkError(error?.name === 'AbortError' ? 'The server did not answer in time.' : undefined);
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  return answer(response.status, response.statusText, await response.text());
}

/** The JSON body of a finished request, or the ApiError its error shape describes. */
function answer(status, statusText, text) {
  const ok = status >= 200 && status < 300;
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: a proxy's error page
    if (ok) throw new ApiError(status, 'bad_response', 'The server sent something unreadable.');
  }
  if (!ok) {
    const err = data?.error || {};
    const message = err.message || `The server answered ${status}${statusText ? ` ${statusText}` : ''}.`;
    const error = new ApiError(status, err.code || 'error', message, err.fields || {});
    if (error.code === 'not_authenticated' && unauthenticatedHandler) unauthenticatedHandler(error);
    throw error;
  }
  return data;
}

/** POST multipart `formData` with upload progress (fetch has none): `onProgress(fraction)`. */
function upload(url, formData, {onProgress = () => {}} = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      try {
        resolve(answer(xhr.status, xhr.statusText, xhr.responseText));
      } catch (error) {
        reject(error);
      }
    });
    xhr.addEventListener('error', () => reject(new NetworkError('The upload was interrupted: no connection to the server.')));
    xhr.addEventListener('abort', () => reject(new Error('The upload was cancelled.')));
    xhr.send(formData);
  });
}

/**
 * One API call. `retries`: how often a transient failure is retried (with
 * backoff) before it is thrown; only for requests safe to repeat.
 */
async function request(method, url, body, {retries = 0, timeout} = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await once(method, url, body, {timeout});
    } catch (error) {
      if (!isTransient(error) || attempt >= retries) throw error;
      await sleep(backoff(attempt));
    }
  }
}

/**
 * POST `fields` from a page being left (pagehide): navigator.sendBeacon, which
 * outlives the page but cannot set headers, so the CSRF token travels in the
 * form body (`csrfmiddlewaretoken`, read by Django's CSRF check). Arrays
 * repeat their key. Returns whether the browser queued it.
 */
function beacon(url, fields) {
  const body = new URLSearchParams({csrfmiddlewaretoken: csrfToken()});
  for (const [key, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) body.append(key, String(item));
  }
  return navigator.sendBeacon(url, body);
}

let vocabulary = null;

export const api = {
  get: (url, options) => request('GET', url, undefined, {retries: 2, ...options}),
  post: (url, body, options) => request('POST', url, body, options),
  put: (url, body, options) => request('PUT', url, body, options),
  patch: (url, body, options) => request('PATCH', url, body, options),
  delete: (url, body, options) => request('DELETE', url, body, options),
  upload,
  beacon,
  /** Roles, import kinds and review lists as the server defines them (fetched once per page). */
  vocabulary: () => (vocabulary ??= api.get('/api/vocabulary')),
};

/**
 * Fetch `url` every `every` ms until `done(value)`, calling `onValue` with each
 * answer (a failed fetch calls `onError` and keeps polling). Resolves to the last
 * value; `stop()` on the returned promise ends it early.
 */
export function poll(url, {every, done, onValue = () => {}, onError = () => {}}) {
  let stopped = false;
  const run = (async () => {
    let value = null;
    while (!stopped) {
      await sleep(every);
      if (stopped) break;
      try {
        value = await api.get(url);
      } catch (error) {
        onError(error);
        continue;
      }
      onValue(value);
      if (done(value)) break;
    }
    return value;
  })();
  run.stop = () => {
    stopped = true;
  };
  return run;
}

/** Query string from an object, skipping null/undefined. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Where a user's outbox lives in localStorage. */
export const outboxKey = (userId) => `lineproof.outbox.${userId}`;

/**
 * The outbox: POSTs that must arrive (label submissions). Each is written to
 * localStorage before it is sent and removed only when the server answered it;
 * a network failure or a 5xx leaves it queued and retried with backoff (and at
 * once when the browser comes back online); the body carries a client_id, so a
 * retry of a request that did arrive is harmless. A 4xx (the server refuses it)
 * moves it to `failed`, still stored, with the server's message, for the person
 * to see and copy: nothing typed is dropped.
 *
 * Events: 'change' (counts changed), 'delivered' {item, result}, 'failed' {item}.
 */
export class Outbox extends EventTarget {
  constructor(key, storage = window.localStorage) {
    super();
    this.key = key;
    this.storage = storage;
    this.flushing = null;
    this.timer = null;
    this.attempt = 0;
    window.addEventListener('online', () => this.flush());
    window.addEventListener('storage', (event) => {
      if (event.key === this.key) this.dispatchEvent(new Event('change'));
    });
  }

  read() {
    try {
      const data = JSON.parse(this.storage.getItem(this.key) || '{}');
      return {pending: data.pending || [], failed: data.failed || []};
    } catch {
      return {pending: [], failed: []};
    }
  }

  write(data) {
    this.storage.setItem(this.key, JSON.stringify(data));
    this.dispatchEvent(new Event('change'));
  }

  get pending() {
    return this.read().pending;
  }

  /** Lines whose submit or skip has not reached the server yet: their leases must stay. */
  get pendingLineIds() {
    return [...new Set(this.pending.map((item) => item.meta?.lineId).filter(Number.isInteger))];
  }

  get failed() {
    return this.read().failed;
  }

  /** Queue `{url, body, meta}` (a body's client_id makes a retry harmless) and try to send it. */
  add(item) {
    const data = this.read();
    data.pending.push({...item, id: item.body?.client_id ?? uuid4(), queuedAt: new Date().toISOString(), attempts: 0});
    this.write(data);
    this.flush();
  }

  dismissFailed(id) {
    const data = this.read();
    data.failed = data.failed.filter((item) => item.id !== id);
    this.write(data);
  }

  /** Send everything queued, oldest first; one flush at a time. Resolves when done or stalled. */
  flush() {
    if (!this.flushing) {
      clearTimeout(this.timer);
      this.timer = null;
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  async drain() {
    for (;;) {
      const [item] = this.read().pending;
      if (!item) {
        this.attempt = 0;
        return true;
      }
      try {
        const result = await once('POST', item.url, item.body);
        this.remove(item.id);
        this.attempt = 0;
        this.dispatchEvent(new CustomEvent('delivered', {detail: {item, result}}));
      } catch (error) {
        // Logged out (the app sends the person to the login page; this page's
        // next load sends it) or a CSRF token rotated by a login in another
        // tab (the next try reads the new cookie): keep it, like a network error.
        const retryable =
          isTransient(error) ||
          (error instanceof ApiError && (error.code === 'not_authenticated' || /CSRF/i.test(error.message)));
        if (retryable) {
          this.bump(item.id, error.message);
          const delay = backoff(this.attempt, {base: 1000, cap: 30000});
          this.attempt += 1;
          this.timer = setTimeout(() => this.flush(), delay);
          this.dispatchEvent(new Event('change'));
          return false;
        }
        this.moveToFailed(item.id, error.message);
        this.dispatchEvent(new CustomEvent('failed', {detail: {item, error}}));
      }
    }
  }

  remove(id) {
    const data = this.read();
    data.pending = data.pending.filter((item) => item.id !== id);
    this.write(data);
  }

  bump(id, message) {
    const data = this.read();
    for (const item of data.pending) {
      if (item.id === id) {
        item.attempts += 1;
        item.lastError = message;
      }
    }
    this.write(data);
  }

  moveToFailed(id, message) {
    const data = this.read();
    const item = data.pending.find((entry) => entry.id === id);
    data.pending = data.pending.filter((entry) => entry.id !== id);
    if (item) data.failed.push({...item, error: message});
    this.write(data);
  }
}
