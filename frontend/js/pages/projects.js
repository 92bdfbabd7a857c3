// Your projects: progress, the current model and the training state of each.

import {api} from '../api.js';
import {isAdmin, projectPages} from '../roles.js';
import {formatDate, h, percent, progressBar, replace, showError} from '../dom.js';

function trainingState(run) {
  if (!run) return h('span', {class: 'muted'}, 'never trained');
  const phase = run.progress?.phase ? ` (${run.progress.phase})` : '';
  const when = run.finished_at || run.started_at || run.created_at;
  return [h('span', {class: `badge ${run.status}`}, run.status), ` ${run.trigger}${phase}, ${formatDate(when)}`];
}

/** A project with no lines yet: say so, and where lines come from. */
function emptyNote(project) {
  return h(
    'p',
    {class: 'empty-project'},
    h('strong', {}, 'Nothing imported yet. '),
    isAdmin(project.role)
      ? h('a', {href: `/projects/${project.id}/import`}, 'Import pages or lines')
      : 'A project admin imports the material.',
  );
}

function card(project, detail) {
  const stats = detail?.stats;
  const model = detail?.active_model;
  return h(
    'li',
    {class: 'card project', 'aria-labelledby': `project-${project.id}`},
    h('h2', {id: `project-${project.id}`}, project.name),
    detail?.description ? h('p', {class: 'muted'}, detail.description) : null,
    detail && detail.stats.lines === 0 ? emptyNote(project) : null,
    detail
      ? h(
          'dl',
          {},
          h('dt', {}, 'Your role'),
          h('dd', {}, project.role),
          h('dt', {}, 'Verified'),
          h(
            'dd',
            {},
            `${stats.labeled} of ${stats.lines} lines (${percent(stats.lines ? stats.labeled / stats.lines : 0, 0)})`,
            progressBar(`${project.name}: lines verified`, {ok: true}).set(
              stats.lines ? stats.labeled / stats.lines : 0,
              `${stats.labeled} of ${stats.lines} (${percent(stats.lines ? stats.labeled / stats.lines : 0, 0)})`,
            ).el,
          ),
          h('dt', {}, 'Today'),
          h('dd', {}, `${detail.verified_today} by you`),
          h('dt', {}, 'Model'),
          h(
            'dd',
            {},
            model
              ? model.base_name
                ? `#${model.id}: base model ${model.base_name}${model.cer === null ? '' : `, CER ${percent(model.cer)}`}, not trained here yet`
                : `#${model.id}: CER ${percent(model.cer)}, trained on ${model.train_lines} lines`
              : h('span', {class: 'muted'}, 'none yet'),
          ),
          h('dt', {}, 'Training'),
          h('dd', {}, trainingState(detail.training)),
        )
      : h('p', {class: 'error'}, 'Could not load this project.'),
    h(
      'div',
      {class: 'actions'},
      projectPages(project.role, {canExport: project.can_export}).map(([key, label], i) =>
        h('a', {class: `button${i === 0 ? ' primary' : ''}`, href: `/projects/${project.id}/${key}`}, label),
      ),
    ),
  );
}

/** Your archived projects, each with a way back for its admins. */
async function archivedSection() {
  let archived;
  try {
    archived = await api.get('/api/projects?archived=true');
  } catch {
    return null;
  }
  if (!archived.length) return null;
  const rows = archived.map((project) => {
    const restore = isAdmin(project.role)
      ? h('button', {type: 'button', onclick: async () => {
          try {
            await api.patch(`/api/projects/${project.id}`, {archived: false});
            window.location.reload();
          } catch (error) {
            showError(error.message);
          }
        }}, 'Bring back')
      : null;
    return h('li', {}, `${project.name} (${project.role}) `, restore);
  });
  return h('details', {class: 'archived'}, h('summary', {}, `Archived projects (${archived.length})`), h('ul', {}, rows));
}

export async function render(main, {me}) {
  const head = h(
    'div',
    {class: 'page-head'},
    h('h1', {}, 'Your projects'),
    me.can_create_projects ? h('a', {class: 'button primary', href: '/projects/new'}, 'New project') : null,
  );
  replace(main, head, h('p', {class: 'muted'}, 'Loading…'));
  const archived = await archivedSection();
  if (!me.projects.length) {
    const hint = me.can_create_projects
      ? 'You are not a member of any project yet: create one, or ask an admin to add you.'
      : 'You are not a member of any project yet. Ask an admin to add you.';
    replace(main, head, h('p', {}, hint), archived);
    return;
  }
  const details = await Promise.all(me.projects.map((p) => api.get(`/api/projects/${p.id}`).catch(() => null)));
  replace(
    main,
    head,
    h('ul', {class: 'projects', role: 'list'}, me.projects.map((project, i) => card(project, details[i]))),
    archived,
  );
}
