// A new project: what it is (name, description, languages, script), its
// transcription guidelines (Markdown, previewed) and the base model it starts
// from. The machine-learning settings start at their defaults (models page).

import {api} from '../api.js';
import {h, replace} from '../dom.js';
import {errorLine, field, select, submitting} from '../forms.js';
import {markdown} from '../markdown.js';

export const languageList = (text) => text.split(',').map((part) => part.trim()).filter(Boolean);

/** The fields a project's "about" form has (new project and team page), filled from `project`. */
export function aboutFields(vocabulary, project = {}) {
  const controls = {
    name: h('input', {id: 'project-name', name: 'name', required: true, maxlength: 200, value: project.name || ''}),
    description: h('textarea', {id: 'project-description', name: 'description', rows: 2}, project.description || ''),
    languages: h('input', {id: 'project-languages', name: 'languages', value: (project.languages || []).join(', ')}),
    script: select(
      {id: 'project-script', name: 'script'},
      vocabulary.scripts.map(({name, description}) => [name, description]),
      project.script || 'latin',
    ),
    guidelines: h('textarea', {id: 'project-guidelines', name: 'guidelines', rows: 8}, project.guidelines || ''),
  };
  const preview = h('div', {class: 'guidelines-body', 'aria-live': 'polite'});
  const showPreview = () => replace(preview, markdown(controls.guidelines.value));
  controls.guidelines.addEventListener('input', showPreview);
  showPreview();
  const nodes = [
    field('Name', controls.name),
    field('Description', controls.description),
    field('Languages', controls.languages, 'Comma-separated, e.g. French, Latin.'),
    field('Script', controls.script),
    field('Transcription guidelines', controls.guidelines, 'Markdown: # headings, - lists, **bold**, *italic*, `code`, [links](https://…). Shown beside the labeling field and in review.'),
    h('details', {class: 'preview'}, h('summary', {}, 'Preview of the guidelines'), preview),
  ];
  const values = () => ({
    name: controls.name.value.trim(),
    description: controls.description.value,
    languages: languageList(controls.languages.value),
    script: controls.script.value,
    guidelines: controls.guidelines.value,
  });
  return {controls, nodes, values};
}

export async function render(main, {me, vocabulary}) {
  if (!me.can_create_projects) {
    replace(main, h('h1', {}, 'New project'), h('p', {}, 'On this site only staff create projects. Ask one of them.'));
    return;
  }
  const about = aboutFields(vocabulary);
  const bases = [...vocabulary.base_models.map(({name, description}) => [name, `${name}: ${description}`]), ['', 'None: start from scratch']];
  const base = select({id: 'project-base'}, bases, vocabulary.default_base_model);
  const error = errorLine('new-project-error');
  const button = h('button', {type: 'submit', class: 'primary'}, 'Create project');
  const form = h(
    'form',
    {class: 'card form', 'aria-labelledby': 'new-project-title'},
    h('h1', {id: 'new-project-title'}, 'New project'),
    about.nodes,
    field('Base model', base, 'The recognizer it starts from: lines get readings before anyone labels. Training settings are on the models page.'),
    error,
    button,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const project = await submitting(button, error, () => api.post('/api/projects', {...about.values(), base_model: base.value}));
    if (project) window.location.assign(`/projects/${project.id}/team`);
  });
  replace(main, form);
  about.controls.name.focus();
}
