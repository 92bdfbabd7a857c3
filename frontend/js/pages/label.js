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
//
// This module is the state machine: showing a line, the actions, typing and
// drafts, the outbox's answers and the keys. The page's other parts are its
// siblings: the elements (label-view.js), the leased lines (label-queue.js),
// the walk back through your lines to amend them (label-history.js), the
// reading, mirror and zoom (label-reading.js), the side panels
// (label-panels.js) and the flag panel (label-flag.js).

import {ApiError, Outbox, api, isTransient, outboxKey} from '../api.js';
import {config} from '../config.js';
import {codeUnitOffset, firstUnsure} from '../confidence.js';
import {announce, replace, showError, uuid4} from '../dom.js';
import {guidelinesPanel} from '../markdown.js';
import {keyIndex, keyboardKeys, renderKeyboard, typeAt} from '../vkeys.js';
import {historyMethods} from './label-history.js';
import {renderCounters, renderRecent, renderSync} from './label-panels.js';
import {queueMethods} from './label-queue.js';
import {readingMethods} from './label-reading.js';
import {labelView} from './label-view.js';

const HEARTBEAT_MS = 60_000;
const DRAFT_DELAY_MS = 1500;

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
    // The view's elements become the page's fields (this.input, this.image...);
    // its buttons and flag panel call the page's actions.
    Object.assign(this, labelView(this.flagKinds, this));
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

  // --- typing, drafts, the outbox's answers ---------------------------------

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
}

// The page's other parts: the methods its siblings define, on the same object.
Object.assign(LabelPage.prototype, queueMethods, historyMethods, readingMethods);
