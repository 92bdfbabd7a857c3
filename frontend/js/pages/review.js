// Review: machine output the model is unsure of, human texts it disputes,
// submissions waiting for a reviewer, lines labelers flagged. Keyboard: j/k
// move, a approve (a flagged line: keep the flag), r reject (clear the flag),
// e (or Enter) edits, Enter in the text saves a correction, Esc leaves it;
// the project's special characters are keys (Alt+1…9, Alt+Shift+1…9) and buttons.

import {api, query} from '../api.js';
import {reading} from '../confidence.js';
import {h, kbd, percent, replace, showError, announce, uuid4} from '../dom.js';
import {guidelinesPanel} from '../markdown.js';
import {canReview} from '../roles.js';
import {keyIndex, keyboardKeys, renderKeyboard, typeAt} from '../vkeys.js';
import {reviewFilters} from './review-filters.js';

const OUTCOME = {
  approve: 'Approved',
  correct: 'Corrected',
  reject: 'Rejected: back in the labeling queue',
  keep: 'Flag kept: the line stays out of training',
  clear: 'Flag cleared',
};

export async function render(main, {project, vocabulary}) {
  if (!canReview(project.role)) {
    replace(main, h('h1', {}, 'Review'), h('p', {}, 'Reviewing needs the reviewer or admin role in this project.'));
    return;
  }
  const page = new ReviewPage(main, project, vocabulary.review_kinds, vocabulary.flag_kinds || []);
  page.loadKeyboard();
  await page.load(new URLSearchParams(window.location.search).get('kind') || 'low_confidence');
}

class ReviewPage {
  constructor(main, project, kinds, flagKinds) {
    this.project = project;
    this.kinds = kinds;
    this.flagKinds = flagKinds;
    this.detail = null;
    this.lastInput = null; // the row text a key button types into
    this.vkeys = h('div', {class: 'vkeys', role: 'group', 'aria-label': 'Special characters', hidden: true});
    this.kind = null;
    this.rows = [];
    this.selected = -1;
    this.tabs = kinds.map(({name, description}) =>
      h('button', {type: 'button', role: 'tab', 'aria-selected': 'false', dataset: {kind: name}, onclick: () => this.load(name)}, description),
    );
    this.filters = reviewFilters(project, () => this.load(this.kind));
    this.summary = h('p', {class: 'muted', 'aria-live': 'polite'});
    this.list = h('ul', {class: 'review-list', 'aria-label': 'Lines to review'});
    this.list.addEventListener('keydown', (event) => this.onKey(event));
    this.list.addEventListener('focusin', (event) => {
      if (event.target.matches('input[type="text"]')) this.lastInput = event.target;
    });
    replace(
      main,
      h('h1', {}, 'Review'),
      h('div', {class: 'tabs', role: 'tablist', 'aria-label': 'Review lists'}, this.tabs),
      this.filters.el,
      h(
        'p',
        {class: 'review-help muted'},
        kbd('j'), ' / ', kbd('k'), ' next / previous · ', kbd('a'), ' approve · ', kbd('r'), ' reject · ',
        kbd('e'), ' edit · in the text: ', kbd('Enter'), ' save the correction, ', kbd('Esc'), ' cancel, ',
        kbd('Alt', '1…9'), ' special characters · flagged lines: ', kbd('a'), ' keep the flag, ', kbd('r'), ' clear it',
      ),
      this.vkeys,
      this.summary,
      this.list,
    );
  }

  async loadKeyboard() {
    try {
      this.detail = await api.get(`/api/projects/${this.project.id}`);
    } catch (error) {
      announce(`The special characters could not be loaded: ${error.message}`);
      return;
    }
    renderKeyboard(this.vkeys, this.detail, (char) => this.type(char));
    this.list.before(guidelinesPanel(this.detail.guidelines, {open: false}) || '');
  }

  /** Type a special character into the text being edited (the selected row's when none was). */
  type(char) {
    const input = this.lastInput?.isConnected ? this.lastInput : this.rows[this.selected]?.input;
    if (input) typeAt(input, char);
  }

  async load(kind) {
    this.kind = kind;
    for (const tab of this.tabs) tab.setAttribute('aria-selected', String(tab.dataset.kind === kind));
    const url = new URL(window.location.href);
    url.searchParams.set('kind', kind);
    window.history.replaceState(null, '', url);
    this.summary.textContent = 'Loading…';
    replace(this.list);
    let data;
    try {
      data = await api.get(`/api/projects/${this.project.id}/review${query({kind, limit: 50, ...this.filters.values()})}`);
    } catch (error) {
      this.summary.textContent = '';
      showError(`Could not load the review list: ${error.message}`);
      return;
    }
    this.rows = data.items.map((item) => this.row(item));
    replace(this.list, this.rows.map((row) => row.el));
    const label = this.kinds.find(({name}) => name === kind)?.description ?? kind;
    this.summary.textContent = data.count
      ? `${label}: ${data.count} line${data.count === 1 ? '' : 's'}${data.count > data.items.length ? `, the first ${data.items.length} shown` : ''}.`
      : `${label}: nothing to review.`;
    this.select(0);
  }

  row(item) {
    const line = item.line;
    const prediction = item.prediction;
    const current = item.transcription;
    const shown = current?.text ?? prediction?.text ?? '';
    const inputId = `review-text-${line.id}`;
    const input = h('input', {id: inputId, type: 'text', value: shown, spellcheck: 'false', autocomplete: 'off', dir: 'auto'});
    const result = h('p', {class: 'result', 'aria-live': 'polite'});
    // Approve takes the current text, else the model's reading: with neither, or a
    // text already verified by a person, there is nothing to approve.
    const verified = current && current.status === 'verified' && current.source !== 'model_accepted';
    const approvable = !verified && Boolean((current?.text ?? prediction?.text ?? '').trim());
    const approve = h('button', {type: 'button', class: 'approve', disabled: !approvable,
      title: approvable ? null : 'Nothing to approve: correct or reject the line', onclick: () => this.act(row, 'approve')}, 'Approve');
    const el = h(
      'li',
      {class: 'review-item', tabindex: '-1', dataset: {lineId: String(line.id)}, 'aria-label': `Line ${line.id}`},
      h('img', {src: line.image_url, alt: `Line ${line.id}`, loading: 'lazy', width: line.width, height: line.height}),
      h(
        'div',
        {class: 'meta'},
        h('span', {}, `Line ${line.id}`),
        prediction ? h('span', {}, `model ${percent(prediction.confidence, 0)} sure`) : null,
        item.disagreement !== null && item.disagreement !== undefined
          ? h('span', {}, `model vs text: CER ${percent(item.disagreement, 0)}`)
          : null,
        current ? h('span', {}, `text: ${current.source}, ${current.status}`) : h('span', {}, 'no human text'),
      ),
      item.flag ? this.flagNote(item.flag) : null,
      prediction
        ? h(
            'div',
            {class: 'texts'},
            h('span', {class: 'muted'}, 'Model: '),
            reading(prediction.text, prediction.char_confidences),
          )
        : null,
      h(
        'div',
        {class: 'review-row'},
        h('label', {for: inputId, class: 'visually-hidden'}, `Text of line ${line.id}`),
        input,
        item.flag
          ? [
              h('button', {type: 'button', onclick: () => this.act(row, 'keep')}, 'Keep flag'),
              h('button', {type: 'button', class: 'primary', onclick: () => this.save(row)}, 'Save text'),
              h('button', {type: 'button', class: 'danger', onclick: () => this.act(row, 'clear')}, 'Clear flag'),
            ]
          : [
              approve,
              h('button', {type: 'button', class: 'primary', onclick: () => this.save(row)}, 'Save correction'),
              h('button', {type: 'button', class: 'danger', onclick: () => this.act(row, 'reject')}, 'Reject'),
            ],
      ),
      result,
    );
    const row = {el, input, result, shown, line, approve, flagged: Boolean(item.flag), done: false, busy: false};
    el.addEventListener('focusin', () => this.select(this.rows.indexOf(row), {focus: false}));
    return row;
  }

  flagNote(flag) {
    const kind = this.flagKinds.find(({name}) => name === flag.kind)?.description ?? flag.kind;
    return h(
      'p',
      {class: 'review-flag', dataset: {flag: flag.kind}},
      h('strong', {}, `Flagged: ${kind}`),
      flag.comment ? [' — ', h('q', {}, flag.comment)] : null,
      flag.author_name ? h('span', {class: 'muted'}, ` (${flag.author_name})`) : null,
    );
  }

  select(index, {focus = true} = {}) {
    if (!this.rows.length || index < 0) return;
    this.selected = Math.min(index, this.rows.length - 1);
    this.rows.forEach((row, i) => {
      row.el.classList.toggle('selected', i === this.selected);
      row.el.tabIndex = i === this.selected ? 0 : -1;
    });
    const row = this.rows[this.selected];
    if (focus) {
      row.el.focus();
      row.el.scrollIntoView({block: 'nearest'});
    }
  }

  nextOpen(from) {
    const after = this.rows.findIndex((row, i) => i > from && !row.done);
    return after >= 0 ? after : from;
  }

  onKey(event) {
    const special = keyIndex(event);
    if (special >= 0 && event.target.matches('input[type="text"]')) {
      const key = keyboardKeys(this.detail)[special];
      if (key) typeAt(event.target, key.char);
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const row = this.rows[this.selected];
    if (!row) return;
    if (event.target === row.input) {
      if (event.key === 'Enter') {
        event.preventDefault();
        this.save(row);
      } else if (event.key === 'Escape') {
        event.preventDefault();
        row.input.value = row.shown;
        row.el.focus();
      }
      return;
    }
    if (event.target.closest('input, button, a')) return;
    const key = event.key;
    let handled = true;
    if (key === 'j' || key === 'ArrowDown') this.select(this.selected + 1);
    else if (key === 'k' || key === 'ArrowUp') this.select(this.selected - 1);
    else if (key === 'a') {
      if (row.flagged) this.act(row, 'keep');
      else if (!row.approve.disabled) this.act(row, 'approve');
    } else if (key === 'r') this.act(row, row.flagged ? 'clear' : 'reject');
    else if (key === 'e' || key === 'Enter') {
      row.input.focus();
      row.input.setSelectionRange(row.input.value.length, row.input.value.length);
    } else handled = false;
    if (handled) event.preventDefault();
  }

  /** Enter in the text: a correction if it changed, else an approval of what is there. */
  save(row) {
    const text = row.input.value.trim();
    if (text === row.shown.trim() && !row.flagged) return row.approve.disabled ? undefined : this.act(row, 'approve');
    if (!text) {
      announce('The text is empty; type the correction, or press r to reject the line.');
      return undefined;
    }
    return this.act(row, 'correct', text);
  }

  async act(row, action, text) {
    if (row.busy) return;
    row.busy = true;
    row.result.textContent = 'Saving…';
    const decision = action === 'keep' || action === 'clear';
    const body = decision ? {decision: action, client_id: uuid4()} : {action, client_id: uuid4()};
    if (action === 'correct') body.text = text;
    const url = decision ? `/api/lines/${row.line.id}/flag/decision` : `/api/lines/${row.line.id}/review`;
    try {
      // The client_id makes the retries safe: the server applies a decision once.
      const saved = await api.post(url, body, {retries: 4});
      row.done = true;
      row.shown = decision ? row.shown : saved?.text ?? row.shown;
      row.el.classList.add('done');
      const quoted = action === 'reject' || decision ? '' : `: “${saved?.text ?? ''}”`;
      row.result.textContent = `${OUTCOME[action]}${quoted}`;
      row.result.className = 'result ok';
      const index = this.rows.indexOf(row);
      if (index === this.selected) this.select(this.nextOpen(index));
    } catch (error) {
      row.result.textContent = error.message;
      row.result.className = 'result error';
    } finally {
      row.busy = false;
    }
  }
}
