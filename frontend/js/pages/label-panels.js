// The side panels of the labeling page: the counters, the outbox's sync state
// (with what the server refused) and your recent lines. The special characters'
// keys are the shared keyboard (../vkeys.js).

import {h, percent, replace} from '../dom.js';

/** Lines verified today by you, the project's progress and the model's CER. */
export function renderCounters(box, detail) {
  const {lines, labeled} = detail.stats;
  const item = (label, value, extra) => [h('dt', {}, label), h('dd', {}, value, extra ? h('small', {}, extra) : null)];
  replace(
    box,
    item('Today', String(detail.verified_today), ' by you'),
    item('Project', `${labeled} / ${lines}`, ` ${lines ? percent(labeled / lines, 0) : ''}`),
    item('Model CER', detail.active_model ? percent(detail.active_model.cer) : 'no model yet'),
  );
}

/** What the outbox still has to send, and what the server refused (kept until dismissed). */
export function renderSync(sync, failedBox, outbox) {
  const {pending, failed} = outbox.read();
  const submits = pending.filter((item) => item.meta?.kind !== 'skip');
  sync.classList.toggle('pending', pending.length > 0);
  if (pending.length) {
    const retrying = pending[0].attempts > 0 ? ' — no connection, retrying' : '';
    const what = submits.length === 1 ? '1 line' : `${submits.length} lines`;
    sync.textContent = submits.length ? `${what} pending${retrying}` : `Sending${retrying}`;
    sync.dataset.pending = String(submits.length);
  } else {
    sync.textContent = 'All saved';
    sync.dataset.pending = '0';
  }
  failedBox.hidden = failed.length === 0;
  if (failed.length) {
    replace(
      failedBox,
      h('h2', {id: 'failed-title'}, 'Not saved'),
      h('p', {}, 'The server refused these; copy the text if you need it, then dismiss.'),
      h(
        'ul',
        {},
        failed.map((item) =>
          h(
            'li',
            {},
            h('strong', {}, `Line ${item.meta?.lineId}: `),
            item.body?.kind ? h('span', {}, `flag “${item.body.kind}” `) : h('q', {}, item.body?.text ?? ''),
            h('span', {class: 'error'}, ` ${item.error}`),
            ' ',
            h('button', {type: 'button', class: 'link', onclick: () => outbox.dismissFailed(item.id)}, 'Dismiss'),
          ),
        ),
      ),
    );
  }
}

/** Your latest lines, newest first, each a button that opens it to amend (`onOpen(lineId)`). */
export function renderRecent(box, lines, onOpen) {
  box.hidden = lines.length === 0;
  replace(
    box,
    h('h2', {id: 'recent-title'}, 'Your recent lines'),
    h(
      'ol',
      {class: 'recent-list'},
      lines.map((line) =>
        h(
          'li',
          {},
          h(
            'button',
            {type: 'button', class: 'link recent-line', 'data-line-id': String(line.id), onclick: () => onOpen(line.id)},
            h('span', {class: 'muted'}, `Line ${line.id}: `),
            line.flag ? h('span', {class: 'flagged'}, `flagged: ${line.flag.kind}`) : h('q', {}, line.transcription?.text ?? ''),
          ),
        ),
      ),
    ),
  );
}
