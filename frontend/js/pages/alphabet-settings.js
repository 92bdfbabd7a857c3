// The project's alphabet on the models page: groups of special characters
// (diacritics, ligatures, abbreviation marks, long s…) that the labeling and
// review pages offer as keys, and the normalisation rules. Every member sees
// them; admins change them (PUT /api/projects/{id}/alphabet).

import {ApiError, api} from '../api.js';
import {h, replace} from '../dom.js';
import {isAdmin} from '../roles.js';

/** The keys typed in one field: separated by spaces, or run together (one key per grapheme). */
export function parseKeys(value) {
  const segmenter = new Intl.Segmenter(undefined, {granularity: 'grapheme'});
  return value
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((token) => Array.from(segmenter.segment(token), (part) => part.segment));
}

/** Fill `box` (a section) with the alphabet card; resolves once it is drawn. */
export async function renderAlphabetSettings(box, project) {
  const title = h('h2', {id: 'alphabet-title'}, 'Alphabet');
  let current;
  try {
    current = await api.get(`/api/projects/${project.id}/alphabet`);
  } catch (error) {
    replace(box, title, h('p', {class: 'error'}, error.message));
    return;
  }
  const admin = isAdmin(project.role);
  const list = h('div', {class: 'alphabet-groups'});
  const rows = [];
  const addRow = (group = {name: '', characters: []}) => {
    const n = rows.length + 1;
    const name = h('input', {type: 'text', value: group.name, 'aria-label': `Group ${n} name`, disabled: !admin, placeholder: 'e.g. Ligatures'});
    const keys = h('input', {
      type: 'text', class: 'keys-input', value: group.characters.join(' '), 'aria-label': `Group ${n} characters`,
      disabled: !admin, spellcheck: 'false', autocomplete: 'off', placeholder: 'ſ ꝛ ﬀ ﬁ',
    });
    const row = {name, keys};
    const remove = admin
      ? h('button', {type: 'button', class: 'link', onclick: () => {
        rows.splice(rows.indexOf(row), 1);
        el.remove();
      }}, 'Remove')
      : null;
    const el = h('div', {class: 'alphabet-group'}, name, keys, remove);
    rows.push(row);
    list.append(el);
  };
  current.groups.forEach((group) => addRow(group));

  const keep = h('input', {id: 'alphabet-keep', type: 'checkbox', checked: current.keep_historical, disabled: !admin});
  const forms = current.historical_forms.map(({character, modern}) => `${character} → ${modern}`).join(', ');
  const rules = h('p', {class: 'muted', id: 'alphabet-rules'});
  const describe = () => {
    rules.textContent = `Texts are always saved as Unicode ${current.normalization}. ${
      keep.checked ? 'Historical characters are kept as typed.' : `Historical characters are replaced on save: ${forms}.`}`;
  };
  keep.addEventListener('change', describe);
  describe();
  const message = h('p', {class: 'muted', 'aria-live': 'polite'},
    admin ? 'Keys separated by spaces (or typed together). Alt+1…9 type the first nine, Alt+Shift+1…9 the next nine.' : 'Project admins change these.');
  const form = h(
    'form',
    {class: 'settings-form'},
    h('p', {class: 'muted'}, 'The special characters the material needs; the labeling and review pages offer them as keys, even before any model or verified text has them.'),
    list,
    admin ? h('button', {type: 'button', onclick: () => addRow()}, 'Add a group') : null,
    h('label', {class: 'check', for: 'alphabet-keep'}, keep, 'Keep historical characters (ſ, ꝛ, ligatures)'),
    rules,
    admin ? h('button', {type: 'submit', class: 'primary'}, 'Save alphabet') : null,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const groups = rows
      .map(({name, keys}) => ({name: name.value.trim(), characters: parseKeys(keys.value)}))
      .filter((group) => group.name || group.characters.length);
    try {
      const saved = await api.put(`/api/projects/${project.id}/alphabet`, {groups, keep_historical: keep.checked});
      const count = saved.groups.reduce((sum, group) => sum + group.characters.length, 0);
      message.textContent = `Saved: ${saved.groups.length} group${saved.groups.length === 1 ? '' : 's'}, ${count} character${count === 1 ? '' : 's'}.`;
      message.className = 'ok';
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : `Not saved: ${error.message}`;
      message.className = 'error';
    }
  });
  replace(box, title, form, message);
}
