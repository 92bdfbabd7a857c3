// What the app's forms share: a labelled field, the error line, and a submit
// that disables its button, shows the server's message and re-enables it.

import {ApiError} from './api.js';
import {h} from './dom.js';

/** A label, its control and an optional hint (the control's description). */
export function field(label, control, hint = null) {
  const hintEl = hint ? h('p', {class: 'hint muted', id: `${control.id}-hint`}, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return [h('label', {for: control.id}, label), control, hintEl];
}

/** A <select> of `options` ([value, text] pairs), `selected` chosen. */
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([value, text]) => h('option', {value, selected: value === selected}, text)));
}

/** The roles' <option>s, from the vocabulary. */
export const roleOptions = (vocabulary) => vocabulary.roles.map((role) => [role.name, role.name]);

/** An error line (role=alert), empty until a submit fails. */
export const errorLine = (id) => h('p', {class: 'error form-error', id, role: 'alert'});

/** Run `work` for a submit of `button`: the server's message (or the network's) goes to `error`. */
export async function submitting(button, error, work) {
  error.textContent = '';
  button.disabled = true;
  try {
    return await work();
  } catch (err) {
    error.textContent = err instanceof ApiError ? err.message : `Could not reach the server: ${err.message}`;
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** Two password fields must match before anything is sent. */
export function passwordsMatch(first, second, error) {
  if (first.value === second.value) return true;
  error.textContent = 'The two passwords differ.';
  second.focus();
  return false;
}
