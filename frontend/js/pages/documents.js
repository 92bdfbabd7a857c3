// Documents: every document of the project with its pages, and per page how many
// lines there are, how many are labeled and how many verified.

import {api, query} from '../api.js';
import {h, percent, progressBar, replace, showError} from '../dom.js';
import {canReview} from '../roles.js';

const PAGE_SIZE = 50;

function progress(label, item) {
  const bar = progressBar(label, {ok: item.lines > 0 && item.verified === item.lines});
  bar.set(item.lines ? item.verified / item.lines : 0, `${item.verified} of ${item.lines} verified`);
  return bar.el;
}

function counts(item) {
  return `${item.verified} of ${item.lines} verified (${percent(item.lines ? item.verified / item.lines : 0, 0)}), ${item.labeled} labeled`;
}

function documentCard(doc, project) {
  const viewable = canReview(project.role);
  return h('section', {class: 'card document', dataset: {documentId: String(doc.id)}, 'aria-labelledby': `document-${doc.id}`},
    h('h2', {id: `document-${doc.id}`}, doc.name),
    progress(`Document ${doc.name}`, doc),
    h('p', {class: 'muted'}, counts(doc), ` · ${doc.pages.length} page${doc.pages.length === 1 ? '' : 's'}`),
    doc.pages.length
      ? h('table', {class: 'pages'},
          h('thead', {}, h('tr', {}, ['Page', 'File', 'Lines', 'Labeled', 'Verified', 'Progress', viewable ? 'View' : null].filter(Boolean).map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', {}, doc.pages.map((page) => h('tr', {dataset: {pageId: String(page.id)}},
            h('td', {class: 'num'}, String(page.number)),
            h('td', {}, page.name),
            h('td', {class: 'num'}, String(page.lines)),
            h('td', {class: 'num'}, String(page.labeled)),
            h('td', {class: 'num'}, String(page.verified)),
            h('td', {class: 'page-progress'}, progress(`Page ${page.number} of ${doc.name}`, page)),
            viewable ? h('td', {}, h('a', {href: `/projects/${project.id}/pages/${page.id}`, 'aria-label': `Open page ${page.number} of ${doc.name}`}, 'Open')) : null))))
      : null);
}

export async function render(main, {project}) {
  const list = h('div', {class: 'documents'});
  const summary = h('p', {class: 'muted', 'aria-live': 'polite'}, 'Loading…');
  const more = h('button', {type: 'button', hidden: true}, 'More documents');
  let offset = 0;

  async function load() {
    try {
      const data = await api.get(`/api/projects/${project.id}/documents${query({limit: PAGE_SIZE, offset})}`);
      list.append(...data.documents.map((doc) => documentCard(doc, project)));
      offset += data.documents.length;
      summary.textContent = data.count
        ? `${data.count} document${data.count === 1 ? '' : 's'}${offset < data.count ? `, the first ${offset} shown` : ''}.`
        : 'No documents yet: import pages or lines first.';
      more.hidden = offset >= data.count;
    } catch (error) {
      summary.textContent = '';
      showError(`Could not list the documents: ${error.message}`);
    }
  }

  more.addEventListener('click', load);
  replace(main, h('h1', {}, 'Documents'), summary, list, more);
  await load();
}
