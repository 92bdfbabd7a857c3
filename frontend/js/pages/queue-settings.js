// The project's model and queue settings on the models page: the base model the
// project starts from, which selection strategy ranks the queue, how page scans
// are cut into lines (the segmentation method), and auto-accept. Every member sees them; admins change them (PATCH
// /api/projects/{id}/settings sends only what changed); the base model only
// until a trained model has been promoted.

import {h, percent, replace} from '../dom.js';
import {isAdmin} from '../roles.js';
import {loadSettings, saveSettings} from './training-settings.js';

const FIELDS = ['base_model', 'selection_strategy', 'auto_accept', 'auto_accept_max_error', 'train_on_model_accepted', 'model_accepted_weight', 'segmentation_method'];

/** Fill `box` (a section) with the settings card; resolves once it is drawn. */
export async function renderQueueSettings(box, project) {
  const title = h('h2', {id: 'queue-settings-title'}, 'Model, queue and auto-accept');
  let current = await loadSettings(box, project, title);
  if (current === null) return;
  const admin = isAdmin(project.role);
  const disabled = !admin;
  const bases = [...current.base_models, {name: '', description: 'none: a first model trains from scratch'}];
  if (!bases.some((b) => b.name === current.base_model)) bases.unshift({name: current.base_model, description: 'not shipped here'});
  const base = h(
    'select',
    {id: 'setting-base-model', disabled: disabled || !current.base_model_editable, 'aria-describedby': 'setting-base-model-help'},
    bases.map((b) => h('option', {value: b.name, selected: b.name === current.base_model}, b.name ? `${b.name}: ${b.description}` : b.description)),
  );
  const baseHelp = h('p', {class: 'muted', id: 'setting-base-model-help'}, current.base_model_editable
    ? 'The model the project starts from (version 1): it reads new lines before anyone labels, and the first run fine-tunes it. A new choice becomes the active model.'
    : 'Fixed: a model trained on this project has been promoted.');
  const strategy = h(
    'select',
    {id: 'setting-strategy', disabled, 'aria-describedby': 'setting-strategy-help'},
    current.strategies.map((s) => h('option', {value: s.name, selected: s.name === current.selection_strategy}, s.name)),
  );
  const strategyHelp = h('p', {class: 'muted', id: 'setting-strategy-help'});
  const describe = () => {
    const chosen = current.strategies.find((s) => s.name === strategy.value);
    strategyHelp.textContent = chosen ? chosen.description : '';
  };
  strategy.addEventListener('change', describe);
  describe();

  const method = h(
    'select',
    {id: 'setting-segmentation', disabled, 'aria-describedby': 'setting-segmentation-help'},
    current.segmentation_methods.map((m) => h('option', {value: m.name, selected: m.name === current.segmentation_method, disabled: !m.available},
      m.available ? m.name : `${m.name} (not installed on this server)`)),
  );
  const methodHelp = h('p', {class: 'muted', id: 'setting-segmentation-help'});
  const describeMethod = () => {
    const chosen = current.segmentation_methods.find((m) => m.name === method.value);
    methodHelp.textContent = chosen ? `${chosen.description} Used on import and when pages are re-segmented.` : '';
  };
  method.addEventListener('change', describeMethod);
  describeMethod();

  const autoAccept = h('input', {id: 'setting-auto-accept', type: 'checkbox', checked: current.auto_accept, disabled});
  const maxError = h('input', {
    id: 'setting-max-error', type: 'number', min: '0', max: '50', step: 'any', disabled,
    value: String(+(current.auto_accept_max_error * 100).toFixed(2)), 'aria-describedby': 'setting-max-error-help',
  });
  const trainOn = h('input', {id: 'setting-train-accepted', type: 'checkbox', checked: current.train_on_model_accepted, disabled});
  const weight = h('input', {
    id: 'setting-weight', type: 'number', min: '0.01', max: '1', step: 'any', disabled, value: String(current.model_accepted_weight),
  });
  const message = h('p', {class: 'muted', 'aria-live': 'polite'},
    admin ? 'A new strategy re-ranks the queue as the active model re-scores the lines.' : 'Project admins change these.');

  const values = () => ({
    base_model: base.value,
    selection_strategy: strategy.value,
    auto_accept: autoAccept.checked,
    auto_accept_max_error: Number(maxError.value) / 100,
    train_on_model_accepted: trainOn.checked,
    model_accepted_weight: Number(weight.value),
    segmentation_method: method.value,
  });
  const form = h(
    'form',
    {class: 'settings-form'},
    h('div', {}, h('label', {for: 'setting-base-model'}, 'Base model'), base, baseHelp),
    h('div', {}, h('label', {for: 'setting-strategy'}, 'Next line by'), strategy, strategyHelp),
    h('div', {}, h('label', {for: 'setting-segmentation'}, 'Cut page scans into lines by'), method, methodHelp),
    h('label', {class: 'check', for: 'setting-auto-accept'}, autoAccept, 'Auto-accept lines the model is sure of'),
    h('div', {}, h('label', {for: 'setting-max-error'}, 'Line error allowed among accepted lines (%)'), maxError,
      h('p', {class: 'muted', id: 'setting-max-error-help'}, `Now ${percent(current.auto_accept_max_error)}; used from the next trained model on.`)),
    h('label', {class: 'check', for: 'setting-train-accepted'}, trainOn, 'Also train on model-accepted lines'),
    h('div', {}, h('label', {for: 'setting-weight'}, 'Their weight in training (a verified line weighs 1)'), weight),
    admin ? h('button', {type: 'submit', class: 'primary'}, 'Save settings') : null,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const wanted = values();
    current = await saveSettings(project, current, Object.fromEntries(FIELDS.map((f) => [f, wanted[f]])), message);
  });
  replace(box, title, form, message);
}
