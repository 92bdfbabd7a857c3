// The labeling page's walk back through your own lines: Alt+B (once more: one
// further back) or a pick from your recent lines opens one of them to amend it,
// shown instead of the leased line (`amending`, `amendIndex`); Enter saves it and
// Alt+S returns to the leased line.
//
// Methods of the page (label.js installs them on LabelPage): they read and set
// its `amending`, `amendIndex` and `recent`, and call its show(), hold(),
// setLoading(), fill() and renderRecent().

import {api} from '../api.js';
import {config} from '../config.js';
import {announce, showError} from '../dom.js';

export const historyMethods = {
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
  },

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
  },

  amend(line, index) {
    clearTimeout(this.draftTimer);
    this.hold(line);
    this.amending = line;
    this.amendIndex = index;
    this.show(line, {amend: true});
  },

  async loadRecent() {
    const {lines} = await api.get(`/api/projects/${this.projectId}/queue/recent?limit=${config.labelRecentLines}`);
    this.recent = lines;
    this.renderRecent();
  },

  leaveAmend() {
    this.amending = null;
    this.amendIndex = -1;
    if (this.current) this.show(this.current);
    else {
      this.setLoading('Fetching the next line…');
      this.fill();
    }
  },
};
