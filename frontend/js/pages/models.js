// Models: versions with CER/WER/SER (version 1 is the project's base model when
// it started from one: no training run), CER against verified lines, the running
// training with a live progress bar; admins retrain by hand and edit the schedule,
// the base model, the queue's selection strategy and auto-accept, and the
// project's alphabet (the special characters' keys).

import {ApiError, api, poll} from '../api.js';
import {cerChart, legend} from '../chart.js';
import {announce, formatDate, formatDuration, h, percent, progressBar, replace, showError} from '../dom.js';
import {isAdmin} from '../roles.js';
import {renderAlphabetSettings} from './alphabet-settings.js';
import {renderQueueSettings} from './queue-settings.js';
import {renderTrainingSettings} from './training-settings.js';

const POLL_MS = 2000;
const IN_FLIGHT = new Set(['queued', 'running']);

// Retraining every so often, or not: one choice (a paused schedule shows as off).
const SCHEDULE_CHOICES = [[null, 'Off'], [30, 'every 30 minutes'], [60, 'every hour'], [120, 'every 2 hours'],
  [360, 'every 6 hours'], [720, 'every 12 hours'], [1440, 'every day'], [10080, 'every week']];

/** What a run came to: a finished run whose model was rejected says so, never "succeeded". */
export function runOutcome(run) {
  if (run.status === 'succeeded' && run.progress?.decision === 'rejected') {
    return {status: 'rejected', text: 'finished: its model was rejected (not better than the active one)'};
  }
  return {status: run.status, text: null};
}

/** Share of the run done: elapsed / (elapsed + ETA) while training; null when unknown. */
function runFraction(run) {
  if (run.status === 'succeeded') return 1;
  const p = run.progress || {};
  if (p.phase === 'evaluating' || p.phase === 'done') return 1;
  const elapsed = Number(p.elapsed_seconds);
  const eta = Number(p.eta_seconds);
  if (Number.isFinite(elapsed) && Number.isFinite(eta) && elapsed + eta > 0) return elapsed / (elapsed + eta);
  return null;
}

export async function render(main, {project}) {
  const page = new ModelsPage(main, project);
  await page.load();
}

class ModelsPage {
  constructor(main, project) {
    this.project = project;
    this.admin = isAdmin(project.role);
    this.polling = null;
    this.chartBox = h('div');
    this.table = h('div', {class: 'table-scroll'});
    this.runBox = h('section', {class: 'card run', 'aria-labelledby': 'run-title'});
    this.runsTable = h('div');
    this.scheduleBox = h('section', {class: 'card schedule', 'aria-labelledby': 'schedule-title', hidden: !this.admin});
    this.settingsBox = h('section', {class: 'card queue-settings', 'aria-labelledby': 'queue-settings-title'});
    this.alphabetBox = h('section', {class: 'card alphabet-settings', 'aria-labelledby': 'alphabet-title'});
    this.trainingSettingsBox = h('section', {class: 'card training-settings', 'aria-labelledby': 'training-settings-title'});
    replace(
      main,
      h('h1', {}, 'Models'),
      h(
        'div',
        {class: 'models-grid'},
        h(
          'div',
          {},
          h('section', {class: 'card', 'aria-labelledby': 'chart-title'}, h('h2', {id: 'chart-title'}, 'CER against verified lines'), this.chartBox, legend()),
          this.settingsBox,
          this.alphabetBox,
          this.trainingSettingsBox,
        ),
        h(
          'div',
          {},
          this.runBox,
          this.scheduleBox,
          h('section', {'aria-labelledby': 'runs-title'}, h('h2', {id: 'runs-title'}, 'Recent training runs'), this.runsTable),
        ),
      ),
      // Full width: the versions table has nine columns.
      h('section', {class: 'versions', 'aria-labelledby': 'versions-title'}, h('h2', {id: 'versions-title'}, 'Versions'), this.table),
    );
  }

  async load() {
    let models;
    let runs;
    try {
      [models, runs] = await Promise.all([
        api.get(`/api/projects/${this.project.id}/models`),
        api.get(`/api/projects/${this.project.id}/training-runs`),
      ]);
    } catch (error) {
      showError(`Could not load the models: ${error.message}`);
      return;
    }
    this.renderModels(models);
    this.renderRuns(runs);
    this.base = models.find((m) => m.base_name && m.status === 'active') || null;
    const live = runs.find((run) => IN_FLIGHT.has(run.status));
    this.renderRun(live || runs[0] || null);
    if (live) this.poll(live.id);
    if (this.admin) this.loadSchedule();
    renderQueueSettings(this.settingsBox, this.project);
    renderAlphabetSettings(this.alphabetBox, this.project);
    renderTrainingSettings(this.trainingSettingsBox, this.project);
  }

  renderModels(models) {
    const points = models
      .filter((m) => m.cer !== null && m.cer !== undefined)
      .map((m) => ({x: m.train_lines, y: m.cer, label: m.base_name ? `base model ${m.base_name}` : `model #${m.id}`, kind: m.status === 'rejected' ? 'rejected' : ''}));
    replace(this.chartBox, cerChart(points));
    if (!models.length) {
      replace(this.table, h('p', {class: 'muted'}, 'No model yet: the first one trains once enough lines are verified.'));
      return;
    }
    replace(
      this.table,
      h(
        'table',
        {},
        h('caption', {class: 'visually-hidden'}, 'Model versions, newest first'),
        h(
          'thead',
          {},
          h('tr', {}, ['Version', 'Status', 'CER', 'WER', 'SER', 'Lines', 'Calibration (ECE)', 'Auto-accept', 'Trained'].map(
            (label, i) => h('th', {scope: 'col', class: i >= 2 && i <= 7 ? 'num' : null}, label))),
        ),
        h(
          'tbody',
          {},
          models.map((m) =>
            h(
              'tr',
              {},
              h('td', {}, `#${m.id}`, m.base_name
                ? h('small', {class: 'muted'}, ` base model ${m.base_name}`)
                : m.parent_id ? h('small', {class: 'muted'}, ` from #${m.parent_id}`) : null),
              h('td', {}, h('span', {class: `badge ${m.status}`}, m.status), rerankedNote(m)),
              h('td', {class: 'num'}, percent(m.cer)),
              h('td', {class: 'num'}, percent(m.wer)),
              h('td', {class: 'num'}, percent(m.ser)),
              h('td', {class: 'num'}, String(m.train_lines)),
              h('td', {class: 'num', title: calibrationTitle(m)}, calibrationText(m)),
              h('td', {class: 'num', title: `lines whose calibrated confidence is at least ${m.accept_threshold ?? '-'}`},
                m.accept_coverage === null || m.accept_coverage === undefined
                  ? '–'
                  : `${percent(m.accept_coverage)} at ≤ ${percent(m.accept_max_error)} errors`),
              h('td', {class: 'nowrap'}, m.base_name ? 'shipped, no training run' : formatDate(m.created_at)),
            ),
          ),
        ),
      ),
    );
  }

  renderRuns(runs) {
    if (!runs.length) {
      replace(this.runsTable, h('p', {class: 'muted'}, 'No training run yet.'));
      return;
    }
    replace(
      this.runsTable,
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, ['Run', 'Status', 'Trigger', 'Kind', 'Started', 'Finished'].map((t) => h('th', {scope: 'col'}, t)))),
        h(
          'tbody',
          {},
          runs.slice(0, 10).map((run) =>
            h(
              'tr',
              {},
              h('td', {}, `#${run.id}`, run.attempt > 1 ? h('small', {class: 'muted'}, ` try ${run.attempt}`) : null),
              h('td', {}, h('span', {class: `badge ${runOutcome(run).status}`}, runOutcome(run).status), run.error ? h('div', {class: 'error'}, run.error) : null),
              h('td', {}, run.trigger),
              h('td', {}, run.kind),
              h('td', {}, formatDate(run.started_at)),
              h('td', {}, formatDate(run.finished_at)),
            ),
          ),
        ),
      ),
    );
  }

  renderRun(run) {
    const title = h('h2', {id: 'run-title'}, 'Training');
    const actions = h('div', {class: 'actions'});
    if (this.admin) {
      if (run && IN_FLIGHT.has(run.status)) {
        actions.append(h('button', {type: 'button', class: 'danger', onclick: () => this.cancel(run.id)}, 'Stop this run'));
      } else {
        actions.append(h('button', {type: 'button', class: 'primary', onclick: () => this.retrain()}, 'Retrain now'));
      }
    }
    if (!run) {
      const none = this.base
        ? `Nothing has trained yet: the base model ${this.base.base_name} reads the lines, and the first run fine-tunes it.`
        : 'Nothing has trained yet.';
      replace(this.runBox, title, h('p', {class: 'muted'}, none), actions);
      return;
    }
    const p = run.progress || {};
    const fraction = runFraction(run);
    const live = IN_FLIGHT.has(run.status);
    const outcome = runOutcome(run);
    const stateText = outcome.text ?? (run.status === 'queued' ? 'waiting for a training worker' : p.phase || run.status);
    const bar = progressBar(`Training run ${run.id}`, {ok: outcome.status === 'succeeded'}).set(
      fraction,
      fraction === null ? stateText : `${Math.round(100 * fraction)} % (${stateText})`,
    );
    Object.assign(bar.el.dataset, {runId: String(run.id), status: run.status});
    const rows = [
      ['Status', [h('span', {class: `badge ${outcome.status}`}, outcome.status), ` ${stateText}`]],
      ['Step', p.step !== undefined ? `${p.step}${p.epoch !== undefined ? ` (epoch ${p.epoch})` : ''}` : null],
      ['Loss', Number.isFinite(p.loss) ? p.loss.toFixed(3) : null],
      ['Validation CER', p.val_cer !== undefined && p.val_cer !== null ? percent(p.val_cer) : null],
      ['Best CER so far', p.best_cer !== undefined && p.best_cer !== null ? percent(p.best_cer) : null],
      ['Elapsed', p.elapsed_seconds !== undefined ? formatDuration(p.elapsed_seconds) : null],
      ['Time left', live && p.eta_seconds !== undefined && p.eta_seconds !== null ? `about ${formatDuration(p.eta_seconds)}` : null],
      ['Decision', p.decision ?? null],
      ['Error', run.error || null],
    ].filter(([, value]) => value !== null && value !== undefined);
    replace(
      this.runBox,
      title,
      h('p', {}, `Run #${run.id}, ${run.trigger}, ${run.kind}, requested ${formatDate(run.created_at)}`),
      bar.el,
      h('dl', {}, rows.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)])),
      actions,
    );
  }

  async poll(runId) {
    this.polling?.stop();
    const polling = poll(`/api/training-runs/${runId}`, {
      every: POLL_MS,
      done: (run) => !IN_FLIGHT.has(run.status),
      onValue: (run) => this.renderRun(run),
    });
    this.polling = polling;
    const run = await polling;
    if (run && this.polling === polling) {
      announce(`Training run ${run.id} ${run.status}.`);
      this.load();
    }
  }

  async retrain() {
    try {
      const run = await api.post(`/api/projects/${this.project.id}/training-runs`);
      announce(`Training run ${run.id} ${run.status}.`);
      this.renderRun(run);
      this.poll(run.id);
    } catch (error) {
      showError(`Could not start training: ${error.message}`);
    }
  }

  async cancel(runId) {
    try {
      const run = await api.post(`/api/training-runs/${runId}/cancel`);
      this.renderRun(run);
      announce(`Stopping training run ${run.id}.`);
    } catch (error) {
      showError(`Could not stop the run: ${error.message}`);
    }
  }

  async loadSchedule() {
    let schedule;
    try {
      schedule = await api.get(`/api/projects/${this.project.id}/schedule`);
    } catch (error) {
      replace(this.scheduleBox, h('h2', {id: 'schedule-title'}, 'Schedule'), h('p', {class: 'error'}, error.message));
      return;
    }
    // One choice, saved at once: off, or every N minutes (enabled).
    const current = schedule.enabled ? schedule.every_minutes : null;
    const choices = [...SCHEDULE_CHOICES];
    if (current !== null && !choices.some(([minutes]) => minutes === current)) {
      choices.push([current, `every ${current} minutes`]);
    }
    const select = h(
      'select',
      {id: 'schedule-every', 'aria-describedby': 'schedule-help'},
      choices.map(([minutes, label]) =>
        h('option', {value: minutes === null ? '' : String(minutes), selected: minutes === current}, label),
      ),
    );
    const message = h('p', {class: 'muted', id: 'schedule-help', 'aria-live': 'polite'},
      'Retrains only when lines were verified since the last model.');
    const form = h('form', {}, h('div', {}, h('label', {for: 'schedule-every'}, 'Retrain on a schedule'), select));
    const save = async () => {
      const minutes = select.value === '' ? null : Number(select.value);
      select.disabled = true;
      try {
        const saved = await api.put(`/api/projects/${this.project.id}/schedule`, {every_minutes: minutes, enabled: minutes !== null});
        message.textContent = saved.every_minutes && saved.enabled
          ? `Saved: retrains every ${saved.every_minutes} minutes.`
          : 'Saved: no scheduled retraining.';
        message.className = 'ok';
      } catch (error) {
        message.textContent = error instanceof ApiError ? error.message : `Not saved: ${error.message}`;
        message.className = 'error';
      } finally {
        select.disabled = false;
      }
    };
    select.addEventListener('change', save);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      save();
    });
    replace(this.scheduleBox, h('h2', {id: 'schedule-title'}, 'Schedule'), form, message);
  }
}


/** "2.1 % → 0.4 %": expected calibration error on the eval lines, raw and calibrated. */
function calibrationText(m) {
  const c = m.calibration || {};
  if (c.ece_before === undefined || c.ece_before === null) return '–';
  return `${percent(c.ece_before)} → ${percent(c.ece_after)}`;
}

function calibrationTitle(m) {
  const c = m.calibration || {};
  if (!c.method) return 'no calibration';
  return `${c.method} calibration fitted on ${c.fitted_lines} eval lines (${percent(c.fitted_accuracy)} read exactly right)`;
}

// How long after its promotion the top of the queue was ranked by a model (its first re-scoring batch).
function rerankedNote(m) {
  if (!m.promoted_at || !m.queue_reranked_at) return null;
  const seconds = (Date.parse(m.queue_reranked_at) - Date.parse(m.promoted_at)) / 1000;
  return h('small', {class: 'muted', title: 'from its promotion to the top of the queue ranked by it'}, ` queue re-ranked in ${formatDuration(seconds)}`);
}
