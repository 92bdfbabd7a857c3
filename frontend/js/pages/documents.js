// Documents: every document of the project with its pages, and per page how many
// lines there are, how many are labeled and how many verified. Reviewers and
// admins can have a whole document cut into lines again (the project's
// segmentation method, default settings), on the worker.

import {api, poll, query} from '../api.js';
import {announce, h, percent, progressBar, replace, showError} from '../dom.js';
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

// Lines nobody typed on are replaced; typed ones keep their text on the new line over them.
function resegmentButton(doc, onDone) {
  const status = h('p', {class: 'muted', 'aria-live': 'polite'});
  const button = h('button', {type: 'button', 'aria-describedby': `resegment-help-${doc.id}`}, `Re-segment ${doc.name}`);
  const help = h('p', {class: 'muted', id: `resegment-help-${doc.id}`},
    'Cuts every page into lines again; lines nobody typed on are replaced, typed lines keep their text.');
  button.addEventListener('click', async () => {
    if (!window.confirm(`Cut every page of ${doc.name} into lines again?`)) return;
    button.disabled = true;
    try {
      const job = await api.post(`/api/documents/${doc.id}/resegment`, {});
      status.textContent = `Re-segmentation queued (${job.method}); the counts are updated when the worker is done.`;
      const done = await poll(`/api/resegment-jobs/${job.id}`, {
        every: 1500,
        done: (value) => ['succeeded', 'failed'].includes(value.status),
        onValue: (value) => {
          if (value.status === 'running') status.textContent = `Re-segmenting: page ${value.progress.done} of ${value.progress.total} done.`;
        },
      });
      if (done.status === 'failed') {
        status.textContent = '';
        showError(`The re-segmentation failed: ${done.error}`);
        return;
      }
      const pages = done.report.pages;
      const skipped = pages.filter((page) => page.skipped).length;
      const lines = pages.reduce((sum, page) => sum + (page.skipped ? 0 : page.lines_after), 0);
      const message = `Re-segmented ${pages.length - skipped} of ${pages.length} page${pages.length === 1 ? '' : 's'}: ${lines} lines`
        + (skipped ? `; ${skipped} left as they were (a labeler is working there)` : '') + '.';
      announce(message, {timeout: 8000});
      await onDone();
    } catch (error) {
      status.textContent = '';
      showError(error.message);
    } finally {
      button.disabled = false;
    }
  });
  return h('div', {class: 'resegment-document'}, button, help, status);
}

function documentCard(doc, project, reload) {
  const viewable = canReview(project.role);
  return h('section', {class: 'card document', dataset: {documentId: String(doc.id)}, 'aria-labelledby': `document-${doc.id}`},
    h('h2', {id: `document-${doc.id}`}, doc.name),
    progress(`Document ${doc.name}`, doc),
    h('p', {class: 'muted'}, counts(doc), ` · ${doc.pages.length} page${doc.pages.length === 1 ? '' : 's'}`),
    viewable && doc.pages.length ? resegmentButton(doc, reload) : null,
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
      list.append(...data.documents.map((doc) => documentCard(doc, project, reload)));
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

  // After a re-segmentation: the list drawn again with the new counts.
  async function reload() {
    list.replaceChildren();
    offset = 0;
    await load();
  }

  more.addEventListener('click', load);
  replace(main, h('h1', {}, 'Documents'), summary, list, more);
  await load();
}
