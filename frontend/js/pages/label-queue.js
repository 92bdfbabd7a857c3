// The labeling page's lines: the one on screen (`current`) and the one leased
// ahead (`next`), asked for with queue/next, kept with a heartbeat every
// minute and given back when the page is left.
//
// Methods of the page (label.js installs them on LabelPage): they read and set
// its `current`, `next`, `known`, `resumeId` and `filling`/`refill`/`fillTimer`,
// and call its show() and setLoading().

import {ApiError, api, isTransient} from '../api.js';
import {config} from '../config.js';
import {h, replace, showError} from '../dom.js';
import {isAdmin} from '../roles.js';

export const queueMethods = {
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
  },

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
  },

  /** Remember a line this page leased (for the recent list once it is submitted). */
  hold(line) {
    this.known.set(line.id, line);
    while (this.known.size > 2 * config.labelRecentLines) this.known.delete(this.known.keys().next().value);
  },

  /** The page is being left (or reloaded): give the leased lines back, but not
   * those whose submit is still on its way (the server must accept it). */
  leave() {
    const pending = new Set(this.outbox.pendingLineIds);
    const leases = [this.current, this.next]
      .filter((line) => line?.lease && !pending.has(line.id))
      .map((line) => line.lease);
    if (leases.length) api.beacon(`/api/projects/${this.projectId}/queue/release`, {leases});
  },

  /** Back from the browser's page cache after leave(): lease the lines again. */
  restart() {
    this.resumeId = this.current?.id ?? null;
    this.current = null;
    this.next = null;
    this.amending = null;
    this.setLoading('Fetching your line again…');
    this.fill();
  },

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
  },

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
  },
};
