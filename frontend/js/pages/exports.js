// Export (admins, and reviewers where the project grants it): choose the format
// (PAGE, ALTO, plain text, line folder, the model) and the scope (every line or
// verified lines only; all documents or one), follow the job's progress, then
// download it; the recent exports stay listed with their download links.

import {api, poll} from '../api.js';
import {formatDate, h, percent, progressBar, replace, showError} from '../dom.js';

const POLL_MS = 1000;
const DONE = new Set(['succeeded', 'failed']);

function downloadLink(job) {
  return job.download_url
    ? h('a', {href: job.download_url, class: 'button download', download: ''}, `Download export #${job.id}`)
    : null;
}

export async function render(main, {project, vocabulary}) {
  if (!project.can_export) {
    replace(main, h('h1', {}, 'Export'), h('p', {}, 'Exporting needs the admin role in this project, or the reviewer role where the project grants it.'));
    return;
  }
  const format = h('select', {id: 'export-format', name: 'format'},
    vocabulary.export_formats.map(({name, description}) => h('option', {value: name}, description)));
  const scopes = vocabulary.export_scopes.map(({name, description}, i) =>
    h('label', {class: 'check'}, h('input', {type: 'radio', name: 'scope', value: name, checked: i === 0}), description));
  const documentSelect = h('select', {id: 'export-document', name: 'document'}, h('option', {value: ''}, 'All documents'));
  const button = h('button', {type: 'submit', class: 'primary'}, 'Export');
  const bar = progressBar('Export');
  const progressText = h('p', {class: 'muted', 'aria-live': 'polite'});
  const progressBox = h('div', {class: 'export-progress', hidden: true}, bar.el, progressText);
  const result = h('div', {'aria-live': 'polite'});
  const recent = h('div');
  const form = h('form', {class: 'export-form card'},
    h('label', {for: 'export-format'}, 'Format'), format,
    h('fieldset', {}, h('legend', {}, 'Lines'), scopes),
    h('label', {for: 'export-document'}, 'Documents'), documentSelect,
    h('p', {class: 'muted'}, 'PAGE and ALTO keep the imported file names and line and region ids, so an export goes back '
      + 'into eScriptorium, Transkribus or kraken as the same pages and lines.'),
    h('div', {}, button),
    progressBox);

  async function loadDocuments() {
    try {
      const data = await api.get(`/api/projects/${project.id}/documents?limit=200`);
      for (const doc of data.documents) documentSelect.append(h('option', {value: String(doc.id)}, doc.name));
    } catch (error) {
      showError(`Could not list the documents: ${error.message}`);
    }
  }

  async function loadRecent() {
    try {
      const jobs = await api.get(`/api/projects/${project.id}/exports`);
      const scopeName = (name) => vocabulary.export_scopes.find((s) => s.name === name)?.description ?? name;
      replace(recent, jobs.length
        ? h('table', {class: 'exports'},
            h('thead', {}, h('tr', {}, ['Export', 'Format', 'Lines', 'Documents', 'Status', 'Requested', ''].map((t) => h('th', {scope: 'col'}, t)))),
            h('tbody', {}, jobs.slice(0, 20).map((job) => h('tr', {dataset: {exportId: String(job.id)}},
              h('td', {}, `#${job.id}`), h('td', {}, job.format), h('td', {}, scopeName(job.scope)),
              h('td', {}, job.document_name ?? 'all'),
              h('td', {}, h('span', {class: `badge ${job.status}`}, job.status)),
              h('td', {}, formatDate(job.created_at)),
              h('td', {}, job.download_url ? h('a', {href: job.download_url, download: ''}, 'Download') : null)))))
        : h('p', {class: 'muted'}, 'No exports yet.'));
    } catch (error) {
      replace(recent, h('p', {class: 'error'}, `Could not list the exports: ${error.message}`));
    }
  }

  function show(job) {
    const {done = 0, total = 0} = job.progress || {};
    bar.set(total ? done / total : null, total ? `${done} of ${total}` : job.status);
    progressText.textContent = total ? `Exporting: ${done} of ${total} (${percent(done / total, 0)})` : `Export ${job.status}…`;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {format: format.value, scope: form.querySelector('input[name="scope"]:checked').value};
    if (documentSelect.value) body.document = Number(documentSelect.value);
    button.disabled = true;
    progressBox.hidden = false;
    replace(result);
    bar.set(0, 'sending');
    progressText.textContent = 'Sending the request…';
    try {
      let job = await api.post(`/api/projects/${project.id}/exports`, body);
      show(job);
      if (!DONE.has(job.status)) {
        job = await poll(`/api/exports/${job.id}`, {
          every: POLL_MS,
          done: (latest) => DONE.has(latest.status),
          onValue: show,
          onError: (error) => {
            progressText.textContent = `Lost track of the export (${error.message}); retrying…`;
          },
        });
      }
      bar.set(1, job.status);
      progressText.textContent = `Export ${job.status}.`;
      replace(result, job.status === 'succeeded'
        ? h('p', {class: 'ok'}, 'Ready: ', downloadLink(job))
        : h('p', {class: 'error'}, `The export failed: ${job.error}`));
      loadRecent();
    } catch (error) {
      progressText.textContent = '';
      progressBox.hidden = true;
      replace(result, h('p', {class: 'error'}, error.message));
    } finally {
      button.disabled = false;
    }
  });

  replace(main, h('h1', {}, 'Export'), form, result, h('h2', {}, 'Recent exports'), recent);
  await Promise.all([loadDocuments(), loadRecent()]);
}
