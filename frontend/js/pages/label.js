// The labeling page: one line at a time, keyboard only.
//
// Requests per labeled line: the submit, one queue/next that leases the line
// after the one on screen (so its image is loading while this one is typed),
// and that image. Drafts go to localStorage on every keystroke and to the
// server after a pause in typing; the lease heartbeat runs every minute.
//
// The page is a small state machine (`this.state`, also `data-state` on the
// section), so a key pressed at the wrong moment does nothing:
//   loading  no line on screen (fetching one, waiting for the outbox, or none left)
//   showing  a line is on screen, but its image is not painted yet or has been
//            on screen for less than config.labelMinShowMs: typing works,
//            Enter and Alt+S do not (a quick second Enter never submits a
//            line nobody has seen)
//   ready    the labeler has seen the line: Enter submits it, Alt+S skips it
//   broken   the line's image did not load: only Alt+S (skip) and a flag act
// A flag (Alt+F: "illegible", "not a text line"...) goes instead of a text,
// through the outbox like a submit, under the same lease, in `ready` or `broken`.
// A submit is not a state: it goes into the outbox at once, bound to the id
// and lease of the line it was typed for, and the page moves on.
//
// Leaving the page (pagehide) gives the leased lines back with a beacon; a
// reload asks for the line it showed again (`resume`), with its draft.

import {ApiError, Outbox, api, isTransient, outboxKey} from '../api.js';
import {config} from '../config.js';
import {alignToPrediction, codePointIndex, codeUnitOffset, firstUnsure, level, reading} from '../confidence.js';
import {announce, h, kbd, percent, replace, showError, uuid4} from '../dom.js';
import {isAdmin} from '../roles.js';
import {keyIndex, keyboardKeys, renderKeyboard, typeAt} from '../vkeys.js';
import {flagPanel} from './label-flag.js';
import {renderCounters, renderRecent, renderSync} from './label-panels.js';
import {guidelinesPanel} from '../markdown.js';

const HEARTBEAT_MS = 60_000;
const DRAFT_DELAY_MS = 1500;
const ZOOMS = [1, 1.25, 1.5, 2, 3, 4];
// At "fit", a line is as wide as the page allows but no taller than this.
const FIT_MAX_HEIGHT = 160;

const KEYMAP = [
  [['Enter'], 'submit and go to the next line'],
  [['Esc'], "reset to the model's reading"],
  [['Alt', 'S'], 'skip this line (or leave your previous line)'],
  [['Alt', 'B'], 'back to your previous lines (once more: one further back), to amend them'],
  [['Alt', '↑'], 'zoom in'],
  [['Alt', '↓'], 'zoom out'],
  [['Alt', '0'], 'fit the line to the page'],
  [['Alt', 'F'], 'flag the line instead of typing it (illegible, not a text line…)'],
  [['Alt', '1…9'], 'type the n-th special character (Alt+Shift+1…9: the next nine)'],
];

export async function render(main, {me, project, vocabulary}) {
  const page = new LabelPage(main, me, project, vocabulary?.flag_kinds || []);
  await page.start();
  return page;
}

class LabelPage {
  constructor(main, me, project, flagKinds) {
    this.main = main;
    this.me = me;
    this.role = project.role;
    this.flagKinds = flagKinds;
    this.projectId = project.id;
    this.projectName = project.name;
    this.detail = null;
    this.outbox = new Outbox(outboxKey(me.id));
    this.state = 'loading';
    this.showSerial = 0; // counts show() calls: a late "painted" for an older line is ignored
    this.current = null; // the leased line on screen (or behind an amend)
    this.next = null; // the line leased ahead
    this.amending = null; // one of your previous lines, shown instead of `current`
    this.amendIndex = -1; // how far back `amending` is in your history (0: the latest)
    this.recent = []; // your latest lines, newest first, with their current text
    this.known = new Map(); // lines this page held, by id: the recent list's entries once submitted
    this.currentKey = `lineproof.current.${me.id}.${project.id}`;
    this.resumeId = Number(localStorage.getItem(this.currentKey)) || null; // the line a reload showed
    this.filling = null;
    this.refill = false;
    this.fillTimer = null;
    this.draftTimer = null;
    this.zoom = 0;
    this.build();
  }

  // --- layout ---------------------------------------------------------------

  build() {
    this.counters = h('dl', {class: 'counters', 'aria-label': 'Progress'});
    this.sync = h('p', {class: 'sync', role: 'status', 'aria-live': 'polite'});
    this.image = h('img', {class: 'crop', alt: 'The line to transcribe', draggable: 'false', decoding: 'async'});
    this.mark = h('div', {class: 'char-mark', hidden: true});
    this.cropInner = h('div', {class: 'crop-inner'}, this.image, this.mark);
    this.cropScroll = h('div', {class: 'crop-scroll', tabindex: '-1'}, this.cropInner);
    this.zoomLabel = h('span', {class: 'zoom-label muted', 'aria-hidden': 'true'});
    // Shown instead of the crop until its image is painted: never a broken image.
    this.placeholder = h('div', {class: 'crop-placeholder muted'}, 'Loading the line image…');
    this.cropFrame = h('div', {class: 'crop-frame crop-loading'}, this.cropScroll, this.placeholder, this.zoomLabel);
    // The page around the line (lines cut from a page only): the neighbouring
    // lines settle abbreviations and words split across lines.
    this.context = h('img', {class: 'context', alt: 'The page around this line, the line outlined', decoding: 'async'});
    this.contextFigure = h('figure', {class: 'context-frame', hidden: true}, this.context);
    this.mirror = h('div', {class: 'mirror', 'aria-hidden': 'true'});
    this.input = h('input', {
      id: 'line-text', class: 'line-text', type: 'text', autocomplete: 'off', autocapitalize: 'off',
      autocorrect: 'off', spellcheck: 'false', dir: 'auto', 'aria-describedby': 'model-reading keys-help',
    });
    this.fieldLabel = h('label', {for: 'line-text'}, 'Transcription');
    this.reading = h('p', {class: 'model-reading muted', id: 'model-reading'});
    this.vkeys = h('div', {class: 'vkeys', role: 'group', 'aria-label': 'Special characters'});
    // For touch: the keys' actions as buttons (they keep the caret in the text).
    const action = (label, keys, onclick, extra = {}) =>
      h('button', {type: 'button', title: keys, onmousedown: (event) => event.preventDefault(), onclick, ...extra}, label);
    this.actions = h(
      'div',
      {class: 'touch-actions', role: 'group', 'aria-label': 'Actions'},
      action('Back', 'Alt+B', () => this.back(), {class: 'action-back'}),
      action('Skip', 'Alt+S', () => this.skip(), {class: 'action-skip'}),
      action('Flag…', 'Alt+F', () => this.openFlag(), {class: 'action-flag'}),
      action('Submit', 'Enter', () => this.submit(), {class: 'primary action-submit'}),
    );
    this.flag = flagPanel(this.flagKinds, {
      onFlag: (kind, comment) => this.flagLine(kind, comment),
      onClose: () => this.input.focus(),
    });
    this.failedBox = h('section', {class: 'failed', hidden: true, 'aria-labelledby': 'failed-title'});
    this.recentBox = h('section', {class: 'recent', hidden: true, 'aria-labelledby': 'recent-title'});
    this.guidelinesBox = h('div', {class: 'guidelines-slot'});
    this.section = h(
      'section',
      {class: 'label-page', 'aria-labelledby': 'label-title'},
      h('div', {class: 'label-head'}, h('h1', {id: 'label-title'}, 'Label'), this.counters, this.sync),
      this.cropFrame,
      this.contextFigure,
      h('div', {class: 'editor'}, this.fieldLabel, h('div', {class: 'field'}, this.mirror, this.input), this.reading),
      this.actions,
      this.flag.el,
      this.vkeys,
      this.guidelinesBox,
      h(
        'aside',
        {class: 'keys', id: 'keys-help', 'aria-label': 'Keyboard'},
        h('h2', {}, 'Keys'),
        h('dl', {}, KEYMAP.map(([keys, what]) => [h('dt', {}, kbd(...keys)), h('dd', {}, what)])),
      ),
      this.failedBox,
      this.recentBox,
    );
    replace(this.main, this.section);

    this.input.addEventListener('input', () => this.onInput());
    for (const type of ['keyup', 'click', 'focus', 'select']) this.input.addEventListener(type, () => this.onCaret());
    this.input.addEventListener('scroll', () => this.syncScroll());
    document.addEventListener('keydown', (event) => this.onKey(event));
    this.image.addEventListener('load', () => this.applyZoom());
    window.addEventListener('resize', () => this.applyZoom());
    this.outbox.addEventListener('change', () => this.renderSync());
    this.outbox.addEventListener('delivered', (event) => this.onDelivered(event.detail));
    this.outbox.addEventListener('failed', (event) => this.onFailed(event.detail));
    window.addEventListener('online', () => this.fill());
    window.addEventListener('pagehide', () => this.leave());
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) this.restart();
    });
    setInterval(() => this.heartbeat(), HEARTBEAT_MS);
  }

  setState(state) {
    this.state = state;
    this.section.dataset.state = state;
  }

  async start() {
    this.setLoading('Loading the project…');
    this.renderSync();
    try {
      this.detail = await api.get(`/api/projects/${this.projectId}`);
    } catch (error) {
      showError(`Could not load the project: ${error.message}`);
    }
    this.renderCounters();
    this.renderVirtualKeys();
    replace(this.guidelinesBox, guidelinesPanel(this.detail?.guidelines));
    this.loadRecent().catch((error) => announce(`Your recent lines could not be loaded: ${error.message}`));
    // Submissions left from an earlier visit go first: until they land the
    // server still counts their leases as ours.
    this.outbox.flush();
    await this.fill();
  }

  setLoading(message) {
    this.showSerial += 1;
    this.setState('loading');
    this.section.dataset.lineId = '';
    this.section.classList.add('waiting');
    this.input.disabled = true;
    this.input.value = '';
    this.fieldLabel.textContent = message;
    this.flag.close();
    this.setCropLoading(true);
    this.image.removeAttribute('src');
    this.mark.hidden = true;
    replace(this.mirror);
    replace(this.reading);
  }

  // --- the queue ------------------------------------------------------------

  /** Make sure a line is on screen and one more is leased ahead. */
  fill() {
    if (this.filling) {
      this.refill = true;
      return this.filling;
    }
    clearTimeout(this.fillTimer);
    this.filling = this.fillOnce().finally(() => {
      this.filling = null;
      if (this.refill) {
        this.refill = false;
        this.fill();
      }
    });
    return this.filling;
  }

  async fillOnce() {
    // While a submit or skip is on its way, the server still holds that line
    // for us and would hand it back: wait for the outbox ('delivered' refills).
    if (this.outbox.pending.length) {
      if (!this.current) this.setLoading('Waiting for your earlier work to reach the server…');
      return;
    }
    const url = `/api/projects/${this.projectId}/queue/next`;
    try {
      if (!this.current) {
        // After a reload: the line this page showed, if nobody took it meanwhile.
        const {line} = await api.post(url, {exclude: [], resume: this.resumeId}, {retries: 2});
        this.resumeId = null;
        if (!line) {
          this.showEmpty();
          return;
        }
        this.hold(line);
        this.current = line;
        if (!this.amending) this.show(line);
      }
      const shown = this.current;
      if (!this.next) {
        const {line} = await api.post(url, {exclude: [shown.id]}, {retries: 2});
        if (this.current !== shown || this.next) {
          // The labeler moved on while this was on its way: ask again for the
          // line on screen now (the server hands back what we already hold).
          this.refill = true;
          return;
        }
        if (line && line.id !== shown.id) {
          this.hold(line);
          this.next = line;
          new Image().src = line.image_url; // fetched now, shown from the cache
          if (line.context_url) new Image().src = line.context_url;
        }
      }
    } catch (error) {
      if (isTransient(error)) {
        if (!this.current) this.setLoading('No connection to the server; trying again…');
        this.fillTimer = setTimeout(() => this.fill(), 3000);
      } else {
        showError(error.message);
      }
    }
  }

  /** Remember a line this page leased (for the recent list once it is submitted). */
  hold(line) {
    this.known.set(line.id, line);
    while (this.known.size > 2 * config.labelRecentLines) this.known.delete(this.known.keys().next().value);
  }

  /** The page is being left (or reloaded): give the leased lines back, but not
   * those whose submit is still on its way (the server must accept it). */
  leave() {
    const pending = new Set(this.outbox.pendingLineIds);
    const leases = [this.current, this.next]
      .filter((line) => line?.lease && !pending.has(line.id))
      .map((line) => line.lease);
    if (leases.length) api.beacon(`/api/projects/${this.projectId}/queue/release`, {leases});
  }

  /** Back from the browser's page cache after leave(): lease the lines again. */
  restart() {
    this.resumeId = this.current?.id ?? null;
    this.current = null;
    this.next = null;
    this.amending = null;
    this.setLoading('Fetching your line again…');
    this.fill();
  }

  showEmpty() {
    if (this.detail && this.detail.stats.lines === 0) {
      this.setLoading('Nothing imported yet.');
      this.setState('empty');
      replace(
        this.reading,
        'This project has no lines yet. ',
        isAdmin(this.role)
          ? h('a', {href: `/projects/${this.projectId}/import`}, 'Import pages or lines')
          : 'A project admin imports the material.',
      );
      return;
    }
    this.setLoading('Nothing left to label.');
    this.setState('empty');
    replace(
      this.reading,
      'Every line is labeled or held by someone else. ',
      h('a', {href: '/'}, 'Back to your projects'),
    );
  }

  /** Put `line` on screen with the best text we have for it. */
  show(line, {amend = false} = {}) {
    this.showSerial += 1;
    const serial = this.showSerial;
    this.setState('showing');
    if (!amend) localStorage.setItem(this.currentKey, String(line.id));
    this.section.classList.remove('waiting');
    this.section.classList.toggle('amending', amend);
    this.section.dataset.lineId = String(line.id);
    this.zoom = 0;
    this.flag.close();
    this.setCropLoading(true);
    this.image.src = line.image_url;
    this.image.alt = `Line ${line.id}: the text to transcribe`;
    this.contextFigure.hidden = !line.context_url;
    if (line.context_url) this.context.src = line.context_url;
    this.fieldLabel.textContent = amend
      ? `Amend your previous line (line ${line.id}); Enter saves, Alt+S returns`
      : `Transcription of line ${line.id}`;
    const prediction = line.prediction;
    const local = localStorage.getItem(this.draftKey(line.id));
    const text = local ?? line.draft?.text ?? line.transcription?.text ?? prediction?.text ?? '';
    this.input.disabled = false;
    this.input.value = text;
    this.renderReading(line);
    this.input.focus();
    let caret = text.length;
    if (prediction && text === prediction.text) {
      const unsure = firstUnsure(prediction.char_confidences);
      if (unsure >= 0) caret = codeUnitOffset(text, unsure);
    }
    this.input.setSelectionRange(caret, caret);
    this.renderMirror();
    this.applyZoom();
    this.whenSeen(serial);
  }

  /** `ready` once the image on screen is painted and has been shown for the minimum time. */
  async whenSeen(serial) {
    try {
      await this.image.decode();
    } catch {
      if (serial !== this.showSerial) return; // another line replaced it meanwhile
      this.setCropLoading(false, {broken: true});
      this.setState('broken');
      showError('The image of this line did not load; press Alt+S to skip it.');
      return;
    }
    if (serial !== this.showSerial) return;
    this.setCropLoading(false);
    // decode() says it can be painted; the second frame after that has it on screen.
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    if (serial !== this.showSerial) return;
    setTimeout(() => {
      if (serial === this.showSerial && this.state === 'showing') this.setState('ready');
    }, config.labelMinShowMs);
  }

  get shown() {
    return this.amending || this.current;
  }

  /** The placeholder instead of the crop while its image loads (or when it failed). */
  setCropLoading(loading, {broken = false} = {}) {
    this.cropFrame.classList.toggle('crop-loading', loading || broken);
    this.placeholder.textContent = broken ? 'The image of this line did not load.' : 'Loading the line image…';
  }

  // --- actions --------------------------------------------------------------

  submit() {
    if (this.state !== 'ready') {
      if (this.state === 'showing') announce('Look at the line first: Enter counts once it has been on screen a moment.');
      return;
    }
    const line = this.shown;
    const text = this.input.value.trim();
    if (!text) {
      announce('The text is empty: type what the line says, or press Alt+S to skip it.');
      return;
    }
    clearTimeout(this.draftTimer);
    localStorage.removeItem(this.draftKey(line.id));
    const amend = Boolean(this.amending);
    // The text goes with the line it was typed for, and (new work) the lease
    // it was shown under: the server refuses it if that lease is gone.
    const body = {text, client_id: uuid4()};
    if (!amend && line.lease) body.lease = line.lease;
    this.outbox.add({
      url: `/api/lines/${line.id}/submit`,
      body,
      meta: {kind: 'submit', lineId: line.id, projectId: this.projectId, amend},
    });
    if (amend) {
      this.leaveAmend();
      return;
    }
    this.advance();
  }

  skip() {
    if (this.amending) {
      this.leaveAmend();
      return;
    }
    if (this.state !== 'ready' && this.state !== 'broken') return;
    const line = this.current;
    clearTimeout(this.draftTimer);
    localStorage.removeItem(this.draftKey(line.id));
    this.outbox.add({url: `/api/lines/${line.id}/skip`, meta: {kind: 'skip', lineId: line.id}});
    announce(`Skipped line ${line.id}.`);
    this.advance();
  }

  openFlag() {
    if (!this.flagKinds.length) return;
    if (this.state !== 'ready' && this.state !== 'broken') {
      if (this.state === 'showing') announce('Look at the line first: a flag counts once it has been on screen a moment.');
      return;
    }
    this.flag.open();
  }

  /** Flag the line on screen instead of typing it, under its lease (new work) like a submit. */
  flagLine(kind, comment) {
    if (this.state !== 'ready' && this.state !== 'broken') return;
    const line = this.shown;
    const amend = Boolean(this.amending);
    // Whatever was typed stays: as the line's draft on the server (its flagger
    // may still amend it) and in this browser.
    clearTimeout(this.draftTimer);
    const typed = this.input.value;
    if (typed.trim() && typed !== (line.transcription?.text ?? line.prediction?.text ?? '')) this.saveDraft(line, typed);
    const body = {kind, comment, client_id: uuid4()};
    if (!amend && line.lease) body.lease = line.lease;
    this.outbox.add({
      url: `/api/lines/${line.id}/flag`,
      body,
      meta: {kind: 'flag', lineId: line.id, projectId: this.projectId, amend},
    });
    const label = this.flagKinds.find((k) => k.name === kind)?.description ?? kind;
    announce(`Flagged line ${line.id}: ${label}.`);
    if (amend) this.leaveAmend();
    else this.advance();
  }

  advance() {
    this.current = this.next;
    this.next = null;
    if (this.current) this.show(this.current);
    else {
      localStorage.removeItem(this.currentKey);
      this.setLoading('Fetching the next line…');
    }
    this.fill();
  }

  leaveAmend() {
    this.amending = null;
    this.amendIndex = -1;
    if (this.current) this.show(this.current);
    else {
      this.setLoading('Fetching the next line…');
      this.fill();
    }
  }

  /** Alt+B: your previous line; pressed again while amending, the one before it. */
  async back() {
    const index = this.amending ? this.amendIndex + 1 : 0;
    if (index >= config.labelRecentLines) {
      announce(`You can go back ${config.labelRecentLines} lines; pick an older one from your recent lines.`);
      return;
    }
    if (this.outbox.pending.length) {
      announce('Your last line is still on its way to the server; try again in a moment.');
      return;
    }
    try {
      const {line} = await api.get(`/api/projects/${this.projectId}/queue/previous?back=${index}`);
      if (!line) {
        announce(index ? 'No earlier line: this is the first you labeled here.' : 'You have not labeled a line in this project yet.');
        return;
      }
      this.amend(line, index);
    } catch (error) {
      showError(`Could not load your previous line: ${error.message}`);
    }
  }

  /** One of your recent lines, picked from the list: opened to amend it. */
  async openRecent(lineId) {
    if (this.outbox.pending.length) {
      announce('Your last line is still on its way to the server; try again in a moment.');
      return;
    }
    try {
      await this.loadRecent();
      const index = this.recent.findIndex((line) => line.id === lineId);
      if (index < 0) {
        announce(`Line ${lineId} is no longer among your recent lines.`);
        return;
      }
      this.amend(this.recent[index], index);
    } catch (error) {
      showError(`Could not load your recent lines: ${error.message}`);
    }
  }

  amend(line, index) {
    clearTimeout(this.draftTimer);
    this.hold(line);
    this.amending = line;
    this.amendIndex = index;
    this.show(line, {amend: true});
  }

  async loadRecent() {
    const {lines} = await api.get(`/api/projects/${this.projectId}/queue/recent?limit=${config.labelRecentLines}`);
    this.recent = lines;
    this.renderRecent();
  }

  resetToPrediction() {
    const line = this.shown;
    if (!line) return;
    const text = (this.amending ? line.transcription?.text : null) ?? line.prediction?.text ?? '';
    this.input.value = text;
    localStorage.removeItem(this.draftKey(line.id));
    let caret = text.length;
    const unsure = firstUnsure(line.prediction?.char_confidences);
    if (line.prediction && text === line.prediction.text && unsure >= 0) caret = codeUnitOffset(text, unsure);
    this.input.setSelectionRange(caret, caret);
    this.onInput({keepLocal: false});
    announce("Back to the model's reading.");
  }

  insert(char) {
    typeAt(this.input, char); // its input event saves the draft
  }

  // --- typing, drafts, heartbeat -------------------------------------------

  draftKey(lineId) {
    return `lineproof.draft.${this.me.id}.${lineId}`;
  }

  onInput({keepLocal = true} = {}) {
    const line = this.shown;
    if (!line) return;
    const text = this.input.value;
    if (keepLocal) localStorage.setItem(this.draftKey(line.id), text);
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.saveDraft(line, text), DRAFT_DELAY_MS);
    this.renderMirror();
  }

  async saveDraft(line, text) {
    try {
      await api.put(`/api/lines/${line.id}/draft`, {text});
    } catch (error) {
      // The local copy stays; a lost lease shows at the next heartbeat or submit.
      if (!isTransient(error) && !(error instanceof ApiError && error.status === 409)) showError(error.message);
    }
  }

  async heartbeat() {
    for (const line of [this.current, this.next]) {
      if (!line) continue;
      try {
        await api.post(`/api/lines/${line.id}/heartbeat`);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409)) continue;
        if (line === this.next) {
          this.next = null;
          this.fill();
        } else if (line === this.current) {
          showError(`${error.message} Your text is kept in this browser; press Alt+S to move on.`);
        }
      }
    }
  }

  onDelivered({item, result}) {
    const meta = item.meta || {};
    const line = this.known.get(meta.lineId);
    const labeled = meta.kind === 'submit' || meta.kind === 'flag';
    if (labeled && meta.projectId === this.projectId && line) {
      const entry = meta.kind === 'flag' ? {...line, flag: result} : {...line, transcription: result, flag: null};
      this.recent = [entry, ...this.recent.filter((other) => other.id !== line.id)].slice(0, config.labelRecentLines);
      this.renderRecent();
    }
    if (labeled && this.detail) {
      if (!meta.amend) {
        this.detail.verified_today += 1;
        this.detail.stats.labeled += 1;
      }
      this.renderCounters();
    }
    this.fill();
  }

  onFailed({item, error}) {
    if (item.meta?.kind === 'skip') {
      this.outbox.dismissFailed(item.id);
      this.fill();
      return;
    }
    if (item.meta?.kind === 'flag') showError(`Line ${item.meta?.lineId} was not flagged: ${error.message}`);
    else showError(`Line ${item.meta?.lineId} was not saved: ${error.message} Its text is kept below.`);
    this.fill();
  }

  // --- keys -----------------------------------------------------------------

  onKey(event) {
    if (event.isComposing || event.defaultPrevented || this.flag.el.contains(event.target)) return;
    const inText = event.target === this.input;
    const onPage = inText || event.target === document.body || this.section.contains(event.target);
    const plain = !event.altKey && !event.ctrlKey && !event.metaKey;
    if (event.key === 'Enter' && plain && !event.shiftKey && inText) {
      event.preventDefault();
      this.submit();
      return;
    }
    if (event.key === 'Escape' && onPage) {
      event.preventDefault();
      this.resetToPrediction();
      return;
    }
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    // event.code: the physical key, so Alt+S works on any layout (and on a Mac,
    // where Alt+S would otherwise type ß).
    const code = event.code;
    const digit = /^Digit([0-9])$/.exec(code) || /^Numpad([0-9])$/.exec(code);
    const key = keyIndex(event);
    let handled = true;
    if (key >= 0) {
      const char = this.specials()[key];
      if (char) this.insert(char);
    } else if (event.shiftKey) handled = false;
    else if (code === 'KeyS') this.skip();
    else if (code === 'KeyF') this.openFlag();
    else if (code === 'KeyB') this.back();
    else if (code === 'ArrowUp' || code === 'Equal' || code === 'NumpadAdd') this.setZoom(this.zoom + 1);
    else if (code === 'ArrowDown' || code === 'Minus' || code === 'NumpadSubtract') this.setZoom(this.zoom - 1);
    else if (digit && digit[1] === '0') this.setZoom(0);
    else handled = false;
    if (handled) event.preventDefault();
  }

  // --- rendering ------------------------------------------------------------

  renderCounters() {
    if (this.detail) renderCounters(this.counters, this.detail);
  }

  renderSync() {
    renderSync(this.sync, this.failedBox, this.outbox);
  }

  renderRecent() {
    renderRecent(this.recentBox, this.recent, (lineId) => this.openRecent(lineId));
  }

  specials() {
    return keyboardKeys(this.detail).map(({char}) => char);
  }

  renderVirtualKeys() {
    renderKeyboard(this.vkeys, this.detail, (char) => this.insert(char));
  }

  renderReading(line) {
    const prediction = line.prediction;
    if (!prediction) {
      replace(this.reading, 'No model has read this line yet: type what it says.');
      return;
    }
    replace(
      this.reading,
      'Model read: ',
      reading(prediction.text, prediction.char_confidences),
      ` · ${percent(prediction.confidence, 0)} sure`,
      line.transcription && this.amending ? ` · saved text: “${line.transcription.text}”` : null,
    );
  }

  /** The coloured copy of the text behind the input: confidence per character. */
  renderMirror() {
    const line = this.shown;
    const prediction = line?.prediction;
    const text = this.input.value;
    const aligned = alignToPrediction(text, prediction?.text ?? '');
    const confidences = prediction?.char_confidences || [];
    const caret = codePointIndex(text, this.input.selectionStart ?? 0);
    replace(
      this.mirror,
      aligned.map(({char, source}, i) =>
        h(
          'span',
          {class: `c-${prediction && source !== null ? level(confidences[source]) : 'edited'}${i === caret ? ' at' : ''}`},
          char,
        ),
      ),
    );
    this.syncScroll();
    this.markCharacter(aligned, caret);
  }

  onCaret() {
    this.renderMirror();
  }

  syncScroll() {
    this.mirror.scrollLeft = this.input.scrollLeft;
  }

  /** Outline, on the image, the character the caret is on (when the model placed it). */
  markCharacter(aligned, caret) {
    const line = this.shown;
    const spans = line?.prediction?.spans;
    const entry = aligned[caret] ?? aligned[caret - 1];
    const span = entry && entry.source !== null && spans ? spans[entry.source] : null;
    if (!span || !line.width) {
      this.mark.hidden = true;
      return;
    }
    const [x0, x1] = span;
    this.mark.hidden = false;
    this.mark.style.left = `${(100 * x0) / line.width}%`;
    this.mark.style.width = `${(100 * Math.max(1, x1 - x0)) / line.width}%`;
    if (this.zoom > 0) this.mark.scrollIntoView({block: 'nearest', inline: 'nearest'});
  }

  setZoom(index) {
    this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, index));
    this.applyZoom();
    // The toast says what the label on the crop says.
    announce(`Zoom ${this.zoomLabel.textContent}`, {timeout: 1500});
  }

  /** "fit (87 %)", "2× fit (174 %)": the zoom step, and the scale of the image's pixels when known. */
  zoomText(scale) {
    const step = ZOOMS[this.zoom] === 1 ? 'fit' : `${ZOOMS[this.zoom]}× fit`;
    return scale ? `${step} (${Math.round(scale * 100)} %)` : step;
  }

  applyZoom() {
    const natural = this.image.naturalWidth;
    const naturalHeight = this.image.naturalHeight;
    if (!natural || !naturalHeight) {
      this.zoomLabel.textContent = this.zoomText(null);
      return;
    }
    const frame = this.cropScroll.clientWidth || 800;
    const fit = Math.min(frame / natural, FIT_MAX_HEIGHT / naturalHeight);
    const scale = fit * ZOOMS[this.zoom];
    this.cropInner.style.width = `${Math.round(natural * scale)}px`;
    // Upscaled a lot, nearest-neighbour keeps strokes crisp; less, smooth reads better.
    this.image.classList.toggle('pixelated', scale >= 2.5);
    this.zoomLabel.textContent = this.zoomText(scale);
  }
}
