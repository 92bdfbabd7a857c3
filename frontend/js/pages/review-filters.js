// The review page's filters: the lines whose current text one labeler wrote, and
// when (from / to, days inclusive). Labelers come from the team statistics' members.

import {api} from '../api.js';
import {h} from '../dom.js';

/** `{el, values()}`: the filter bar, and its values as review-list query parameters. */
export function reviewFilters(project, onChange) {
  const labeler = h('select', {id: 'review-labeler', name: 'labeler'}, h('option', {value: ''}, 'Everyone'));
  const from = h('input', {id: 'review-from', type: 'date', name: 'date_from'});
  const to = h('input', {id: 'review-to', type: 'date', name: 'date_to'});
  for (const input of [labeler, from, to]) input.addEventListener('change', onChange);
  api.get(`/api/projects/${project.id}/team-stats`).then(
    (data) => labeler.append(...data.members.map((m) => h('option', {value: String(m.user_id)}, m.username))),
    () => {},  // the filter stays at "Everyone"
  );
  const el = h('div', {class: 'review-filters'},
    h('label', {for: 'review-labeler'}, 'Labeler'), labeler,
    h('label', {for: 'review-from'}, 'From'), from,
    h('label', {for: 'review-to'}, 'to'), to);
  return {
    el,
    values: () => ({labeler: labeler.value || null, date_from: from.value || null, date_to: to.value || null}),
  };
}
