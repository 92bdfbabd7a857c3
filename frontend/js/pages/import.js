// Import (project admins): upload page images, PAGE/ALTO zips or line folders
// with an upload progress bar, follow the import job, then a report of what
// was created and what was rejected and why.

import {ApiError, api, poll} from '../api.js';
import {formatDate, h, percent, progressBar, replace, showError} from '../dom.js';
import {isAdmin} from '../roles.js';

const POLL_MS = 1000;
const DONE = new Set(['succeeded', 'failed']);

function report(job) {
  const r = job.report || {};
  const rejected = r.rejected || [];
  const warnings = r.warnings || [];
  return h(
    'section',
    {class: 'card report', 'aria-labelledby': `report-${job.id}`},
    h('h2', {id: `report-${job.id}`}, `Import #${job.id}: `, h('span', {class: `badge ${job.status}`}, job.status)),
    job.error ? h('p', {class: 'error'}, job.error) : null,
    h(
      'dl',
      {},
      h('dt', {}, 'Pages created'), h('dd', {}, String(r.pages_created ?? 0)),
      h('dt', {}, 'Lines created'), h('dd', {}, String(r.lines_created ?? 0)),
      h('dt', {}, 'with a transcription'), h('dd', {}, String(r.lines_with_text ?? 0)),
      r.skipped_existing ? [h('dt', {}, 'Already there (skipped)'), h('dd', {}, String(r.skipped_existing))] : null,
    ),
    rejected.length
      ? [
          h('h3', {}, `Rejected (${rejected.length})`),
          h(
            'table',
            {},
            h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'File'), h('th', {scope: 'col'}, 'Why'))),
            h('tbody', {}, rejected.map((item) => h('tr', {}, h('td', {}, item.name), h('td', {}, item.reason)))),
          ),
        ]
      : h('p', {class: 'ok'}, 'Nothing was rejected.'),
    warnings.length ? [h('h3', {}, 'Warnings'), h('ul', {}, warnings.map((w) => h('li', {}, w)))] : null,
  );
}

export async function render(main, {project, vocabulary}) {
  if (!isAdmin(project.role)) {
    replace(main, h('h1', {}, 'Import'), h('p', {}, 'Importing needs the admin role in this project.'));
    return;
  }
  const files = h('input', {id: 'import-files', type: 'file', name: 'file', multiple: true, required: true,
    accept: '.zip,.png,.jpg,.jpeg,.tif,.tiff,.txt,.xml,image/png,image/jpeg,image/tiff,application/zip',
    'aria-describedby': 'import-help'});
  const kind = h(
    'select',
    {id: 'import-kind', name: 'kind'},
    vocabulary.import_kinds.map(({name, description}) => h('option', {value: name}, description)),
  );
  const button = h('button', {type: 'submit', class: 'primary'}, 'Upload and import');
  const uploadBar = progressBar('Upload');
  const jobBar = progressBar('Import');
  const progressText = h('p', {class: 'muted', 'aria-live': 'polite'});
  const progressBox = h('div', {hidden: true}, h('p', {}, 'Upload'), uploadBar.el, h('p', {}, 'Import'), jobBar.el, progressText);
  const result = h('div', {'aria-live': 'polite'});
  const recent = h('div');
  const form = h(
    'form',
    {class: 'import-form card'},
    h('div', {class: 'dropzone'},
      h('label', {for: 'import-files'}, 'Files'),
      files,
      h('p', {class: 'muted', id: 'import-help'},
        'Page images (PNG, JPEG, TIFF) are cut into lines; a zip (or the files of a folder, chosen together) may '
        + 'hold PAGE or ALTO XML with its images, or <id>.png + <id>.gt.txt line pairs. A corrupt, oversized or '
        + 'unsafe file is refused and nothing is saved.')),
    h('label', {for: 'import-kind'}, 'What the files are'),
    kind,
    h('div', {}, button),
    progressBox,
  );

  async function loadRecent() {
    try {
      const jobs = await api.get(`/api/projects/${project.id}/imports`);
      replace(
        recent,
        jobs.length
          ? h('table', {},
              h('thead', {}, h('tr', {}, ['Import', 'Kind', 'Status', 'Lines', 'Rejected', 'Started'].map((t) => h('th', {scope: 'col'}, t)))),
              h('tbody', {}, jobs.slice(0, 10).map((job) => h('tr', {},
                h('td', {}, `#${job.id}`), h('td', {}, job.kind),
                h('td', {}, h('span', {class: `badge ${job.status}`}, job.status)),
                h('td', {class: 'num'}, String(job.report?.lines_created ?? 0)),
                h('td', {class: 'num'}, String(job.report?.rejected?.length ?? 0)),
                h('td', {}, formatDate(job.created_at))))))
          : h('p', {class: 'muted'}, 'No imports yet.'),
      );
    } catch (error) {
      replace(recent, h('p', {class: 'error'}, `Could not list the imports: ${error.message}`));
    }
  }

  function show(job) {
    const {done = 0, total = 0} = job.progress || {};
    jobBar.set(total ? done / total : 0, total ? `${done} of ${total}` : job.status);
    progressText.textContent = total ? `Importing: ${done} of ${total} (${percent(done / total, 0)})` : `Import ${job.status}…`;
  }

  async function follow(job) {
    if (!DONE.has(job.status)) {
      show(job);
      job = await poll(`/api/imports/${job.id}`, {
        every: POLL_MS,
        done: (latest) => DONE.has(latest.status),
        onValue: show,
        onError: (error) => {
          progressText.textContent = `Lost track of the import (${error.message}); retrying…`;
        },
      });
    }
    jobBar.set(1, job.status);
    progressText.textContent = `Import ${job.status}.`;
    replace(result, report(job));
    loadRecent();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!files.files.length) return;
    const data = new FormData();
    for (const file of files.files) data.append('file', file);
    data.append('kind', kind.value);
    button.disabled = true;
    progressBox.hidden = false;
    uploadBar.set(0);
    jobBar.set(0);
    replace(result);
    progressText.textContent = 'Uploading…';
    try {
      const job = await api.upload(`/api/projects/${project.id}/imports`, data, {
        onProgress: (fraction) => {
          uploadBar.set(fraction);
          progressText.textContent = `Uploading: ${percent(fraction, 0)}`;
        },
      });
      uploadBar.set(1);
      await follow(job);
    } catch (error) {
      progressText.textContent = '';
      progressBox.hidden = true;
      replace(result, h('section', {class: 'card report'}, h('h2', {}, 'Refused'), h('p', {class: 'error'}, error.message)));
      if (!(error instanceof ApiError)) showError(error.message);
    } finally {
      button.disabled = false;
    }
  });

  replace(main, h('h1', {}, 'Import'), form, result, h('h2', {}, 'Recent imports'), recent);
  loadRecent();
}
