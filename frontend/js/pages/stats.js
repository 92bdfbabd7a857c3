// Team statistics (reviewers and admins): per labeler and day, lines, characters,
// median seconds per line, how much they changed the model's reading, and the
// share of their lines a reviewer corrected or rejected.

import {api, query} from '../api.js';
import {formatDuration, h, percent, replace, showError} from '../dom.js';
import {canReview} from '../roles.js';

const isoDay = (date) => date.toISOString().slice(0, 10);

export async function render(main, {project}) {
  if (!canReview(project.role)) {
    replace(main, h('h1', {}, 'Team statistics'), h('p', {}, 'Team statistics need the reviewer or admin role in this project.'));
    return;
  }
  const today = new Date();
  const from = h('input', {id: 'stats-from', type: 'date', value: isoDay(new Date(today.getTime() - 13 * 86400000))});
  const to = h('input', {id: 'stats-to', type: 'date', value: isoDay(today)});
  const table = h('div', {class: 'table-scroll'});
  const form = h('form', {class: 'stats-form'},
    h('label', {for: 'stats-from'}, 'From'), from, h('label', {for: 'stats-to'}, 'to'), to,
    h('button', {type: 'submit'}, 'Show'));
  const columns = ['Labeler', 'Day', 'Lines', 'Characters', 'Median time per line', 'Edit distance from the model', 'Per line', 'Changed in review'];

  async function load() {
    try {
      const data = await api.get(`/api/projects/${project.id}/team-stats${query({date_from: from.value || null, date_to: to.value || null})}`);
      replace(table, data.rows.length
        ? h('table', {class: 'team-stats'},
            h('thead', {}, h('tr', {}, columns.map((t) => h('th', {scope: 'col'}, t)))),
            h('tbody', {}, data.rows.map((row) => h('tr', {dataset: {userId: String(row.user_id), day: row.day}},
              h('th', {scope: 'row'}, row.username),
              h('td', {class: 'nowrap'}, row.day),
              h('td', {class: 'num'}, String(row.lines)),
              h('td', {class: 'num'}, String(row.characters)),
              h('td', {class: 'num'}, formatDuration(row.median_seconds)),
              h('td', {class: 'num'}, String(row.edit_distance)),
              h('td', {class: 'num'}, row.edit_distance_per_line === null ? '–' : row.edit_distance_per_line.toFixed(1)),
              h('td', {class: 'num'}, `${percent(row.changed_in_review_share, 0)} (${row.changed_in_review})`)))))
        : h('p', {class: 'muted'}, 'Nobody labeled a line in these days.'));
    } catch (error) {
      showError(`Could not load the statistics: ${error.message}`);
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });
  replace(main, h('h1', {}, 'Team statistics'), form, table);
  await load();
}
