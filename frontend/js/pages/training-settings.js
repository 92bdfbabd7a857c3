// The rest of a project's machine-learning settings on the models page, with
// the defaults a new project starts from: when retraining starts, how the
// queue serves lines, what goes to review and who may export. Every member sees
// them; admins change them (PATCH /api/projects/{id}/settings, only what changed).

import {ApiError, api} from '../api.js';
import {h, replace} from '../dom.js';
import {isAdmin} from '../roles.js';

// [setting, label, kind, input attributes]
const FIELDS = [
  ['retrain_threshold', 'Retrain after this many newly verified lines (0: only by hand or schedule)', 'number', {min: '0', step: '1'}],
  ['full_retrain_every', 'Those runs are short (incremental: the new lines and a replay of older ones); after this many, a full one (1: always full, 0: only on the schedule or by hand)', 'number', {min: '0', step: '1'}],
  ['top_window', 'Serve the next line at random among this many most useful ones', 'number', {min: '1', max: '500', step: '1'}],
  ['lease_seconds', 'Seconds a labeler holds a line without activity', 'number', {min: '30', step: '1'}],
  ['require_review', 'Labels wait for a reviewer before they count as verified', 'checkbox', {}],
  ['review_confidence', 'List machine readings below this confidence for review (0 to 1)', 'number', {min: '0', max: '1', step: 'any'}],
  ['dispute_cer', 'List a human text this far (CER) from the model\u2019s reading as disputed', 'number', {min: '0', step: 'any'}],
  ['reviewers_can_export', 'Reviewers may export (admins always may)', 'checkbox', {}],
];

/**
 * PATCH the settings in `wanted` that differ from `current`, saying in
 * `message` what was saved (or why not); resolves to the settings now.
 */
export async function saveSettings(project, current, wanted, message) {
  const changes = Object.fromEntries(Object.keys(wanted).filter((n) => wanted[n] !== current[n]).map((n) => [n, wanted[n]]));
  if (!Object.keys(changes).length) {
    message.textContent = 'Nothing changed.';
    message.className = 'muted';
    return current;
  }
  try {
    const saved = await api.patch(`/api/projects/${project.id}/settings`, changes);
    message.textContent = `Saved: ${Object.keys(changes).join(', ').replaceAll('_', ' ')}.`;
    message.className = 'ok';
    return saved;
  } catch (error) {
    message.textContent = error instanceof ApiError ? error.message : `Not saved: ${error.message}`;
    message.className = 'error';
    return current;
  }
}

/** The project's settings, or null once `box` shows `title` and why they could not be read. */
export async function loadSettings(box, project, title) {
  try {
    return await api.get(`/api/projects/${project.id}/settings`);
  } catch (error) {
    replace(box, title, h('p', {class: 'error'}, error.message));
    return null;
  }
}

/** Fill `box` (a section) with the training and review settings card. */
export async function renderTrainingSettings(box, project) {
  const title = h('h2', {id: 'training-settings-title'}, 'Training and review');
  let current = await loadSettings(box, project, title);
  if (current === null) return;
  const admin = isAdmin(project.role);
  const inputs = {};
  const rows = FIELDS.map(([name, label, kind, attrs]) => {
    const id = `setting-${name.replaceAll('_', '-')}`;
    const input = kind === 'checkbox'
      ? h('input', {id, type: 'checkbox', checked: current[name], disabled: !admin})
      : h('input', {id, type: 'number', ...attrs, value: String(current[name]), disabled: !admin, inputmode: 'decimal'});
    inputs[name] = input;
    return kind === 'checkbox'
      ? h('label', {class: 'check', for: id}, input, label)
      : h('div', {}, h('label', {for: id}, label), input);
  });
  const message = h('p', {class: 'muted', 'aria-live': 'polite'});
  const values = () =>
    Object.fromEntries(FIELDS.map(([name, , kind]) => [name, kind === 'checkbox' ? inputs[name].checked : Number(inputs[name].value)]));
  const form = h('form', {class: 'settings-form'}, rows, admin ? h('button', {type: 'submit', class: 'primary'}, 'Save') : null);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    current = await saveSettings(project, current, values(), message);
  });
  replace(box, title, form, message);
}
