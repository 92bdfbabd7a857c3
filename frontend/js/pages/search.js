// Search: full text over verified texts and the model's readings; each hit shows
// the line's crop, its text and where it comes from, and links to the line.

import {api, query} from '../api.js';
import {h, replace, showError} from '../dom.js';

const SOURCE = {verified: 'verified text', model: "model's reading"};

function hit(item) {
  const line = item.line;
  const where = [line.document, line.page ? `page ${line.page}` : null].filter(Boolean).join(', ');
  return h('li', {class: 'search-hit card', dataset: {lineId: String(line.id)}},
    h('a', {href: line.ui_url, class: 'hit-crop'},
      h('img', {src: line.image_url, alt: `Line ${line.id}`, loading: 'lazy', width: line.width, height: line.height})),
    h('p', {class: 'hit-text', dir: 'auto'}, item.text),
    h('p', {class: 'muted'},
      h('span', {class: `badge ${item.source === 'verified' ? 'succeeded' : 'queued'}`}, SOURCE[item.source] ?? item.source),
      where ? ` · ${where}` : null, ' · ',
      h('a', {href: line.ui_url}, `Open line ${line.id}`)));
}

export async function render(main, {project}) {
  const input = h('input', {id: 'search-q', type: 'search', name: 'q', required: true, maxlength: '200', autocomplete: 'off', dir: 'auto'});
  const summary = h('p', {class: 'muted', 'aria-live': 'polite'});
  const results = h('ul', {class: 'search-results', 'aria-label': 'Lines found'});
  const form = h('form', {class: 'search-form', role: 'search'},
    h('label', {for: 'search-q'}, 'Find lines with the words'), input,
    h('button', {type: 'submit', class: 'primary'}, 'Search'));

  async function search(q) {
    const url = new URL(window.location.href);
    url.searchParams.set('q', q);
    window.history.replaceState(null, '', url);
    summary.textContent = 'Searching…';
    replace(results);
    try {
      const data = await api.get(`/api/projects/${project.id}/search${query({q})}`);
      replace(results, data.hits.map(hit));
      summary.textContent = data.hits.length
        ? `${data.hits.length} line${data.hits.length === 1 ? '' : 's'} with “${data.query}”.`
        : `No line holds “${data.query}”.`;
    } catch (error) {
      summary.textContent = '';
      showError(error.message);
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim()) search(input.value.trim());
  });
  replace(main, h('h1', {}, 'Search'), form,
    h('p', {class: 'muted'}, 'Searches verified texts and, for lines without one, the model’s readings.'), summary, results);
  const initial = new URLSearchParams(window.location.search).get('q');
  if (initial) {
    input.value = initial;
    await search(initial);
  }
  input.focus();
}
