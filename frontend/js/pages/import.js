// Import (project admins): upload page images, PAGE/ALTO zips or line folders
// with an upload progress bar, follow the import job (or say it waits for a
// worker while the task queue is down), then a report of what was created and
// of every file skipped or rejected, and why; files skipped because their name
// was used before can be imported again at once as new versions.

import {ApiError, api, poll} from '../api.js';
import {formatDate, h, percent, progressBar, replace, showError} from '../dom.js';
import {isAdmin} from '../roles.js';

const POLL_MS = 1000;
const DONE = new Set(['succeeded', 'failed']);

const WAITING = 'waiting for a worker';

function statusText(job) {
  return job.waiting_for_worker ? WAITING : job.status;
}

function unitsNotImported(r) {
  if (r.units) return r.units.filter((unit) => unit.status !== 'imported');
  // Reports written before units were listed: rejected files only.
  return (r.rejected || []).map((item) => ({...item, status: 'failed'}));
}

function report(job, {onNewVersions} = {}) {
  const r = job.report || {};
  const notImported = unitsNotImported(r);
  const skipped = notImported.filter((unit) => unit.status === 'skipped').length;
  const warnings = r.warnings || [];
  return h(
    'section',
    {class: 'card report', 'aria-labelledby': `report-${job.id}`},
    h('h2', {id: `report-${job.id}`}, `Import #${job.id}: `, h('span', {class: `badge ${job.status}`}, statusText(job))),
    job.error ? h('p', {class: 'error'}, job.error) : null,
    h(
      'dl',
      {},
      h('dt', {}, 'Pages created'), h('dd', {}, String(r.pages_created ?? 0)),
      h('dt', {}, 'Lines created'), h('dd', {}, String(r.lines_created ?? 0)),
      h('dt', {}, 'with a transcription'), h('dd', {}, String(r.lines_with_text ?? 0)),
      skipped ? [h('dt', {}, 'Skipped'), h('dd', {}, String(skipped))] : null,
      notImported.length - skipped ? [h('dt', {}, 'Failed'), h('dd', {}, String(notImported.length - skipped))] : null,
    ),
    notImported.length
      ? [
          h('h3', {}, `Not imported (${notImported.length})`),
          h(
            'table',
            {class: 'not-imported'},
            h('thead', {}, h('tr', {}, ['File', 'Outcome', 'Why'].map((t) => h('th', {scope: 'col'}, t)))),
            h('tbody', {}, notImported.map((unit) => h('tr', {},
              h('td', {}, unit.name),
              h('td', {}, h('span', {class: `badge ${unit.status === 'failed' ? 'failed' : 'queued'}`}, unit.status)),
              h('td', {}, unit.reason)))),
          ),
        ]
      : h('p', {class: 'ok'}, 'Nothing was skipped or rejected.'),
    r.new_version_offered && onNewVersions
      ? h('p', {},
          'Some files were skipped because an earlier import used their name for other content. ',
          h('button', {type: 'button', class: 'new-versions', onclick: onNewVersions}, 'Import them as new versions'))
      : null,
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
  const newVersions = h('input', {id: 'import-new-versions', type: 'checkbox', name: 'new_versions'});
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
    h('label', {class: 'check', for: 'import-new-versions'}, newVersions,
      'Import files whose name an earlier import used, with other content, as new versions (page (2).png). '
      + 'Content imported before is skipped either way.'),
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
              h('thead', {}, h('tr', {}, ['Import', 'Kind', 'Status', 'Lines', 'Skipped', 'Rejected', 'Started'].map((t) => h('th', {scope: 'col'}, t)))),
              h('tbody', {}, jobs.slice(0, 10).map((job) => h('tr', {},
                h('td', {}, `#${job.id}`), h('td', {}, job.kind),
                h('td', {}, h('span', {class: `badge ${job.status}`}, statusText(job))),
                h('td', {class: 'num'}, String(job.report?.lines_created ?? 0)),
                h('td', {class: 'num'}, String(job.report?.skipped_existing ?? 0)),
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
    jobBar.set(total ? done / total : 0, total ? `${done} of ${total}` : statusText(job));
    if (job.waiting_for_worker) {
      progressText.textContent = 'Import waiting for a worker: the task queue cannot be reached right now. '
        + 'The files are kept, and the import starts by itself once it is back.';
    } else {
      progressText.textContent = total ? `Importing: ${done} of ${total} (${percent(done / total, 0)})` : `Import ${job.status}…`;
    }
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
    replace(result, report(job, {onNewVersions: () => {
      newVersions.checked = true;
      form.requestSubmit();  // the same files, still chosen, with the option
    }}));
    loadRecent();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!files.files.length) return;
    const data = new FormData();
    for (const file of files.files) data.append('file', file);
    data.append('kind', kind.value);
    data.append('new_versions', newVersions.checked ? 'true' : 'false');
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
