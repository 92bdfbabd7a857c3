// The labeling page's view of the line's reading: the model's reading under the
// text, the coloured copy of the text behind the input (confidence per
// character), the character under the caret outlined on the image, and the
// crop's zoom (`zoom`, a step of ZOOMS; 0 fits the line to the page).
//
// Methods of the page (label.js installs them on LabelPage): they draw into the
// elements of its view (label-view.js) for the line it shows (`shown`).

import {alignToPrediction, codePointIndex, level, reading} from '../confidence.js';
import {announce, h, percent, replace} from '../dom.js';

const ZOOMS = [1, 1.25, 1.5, 2, 3, 4];
// At "fit", a line is as wide as the page allows but no taller than this.
const FIT_MAX_HEIGHT = 160;

export const readingMethods = {
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
  },

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
  },

  onCaret() {
    this.renderMirror();
  },

  syncScroll() {
    this.mirror.scrollLeft = this.input.scrollLeft;
  },

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
  },

  setZoom(index) {
    this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, index));
    this.applyZoom();
    // The toast says what the label on the crop says.
    announce(`Zoom ${this.zoomLabel.textContent}`, {timeout: 1500});
  },

  /** "fit (87 %)", "2× fit (174 %)": the zoom step, and the scale of the image's pixels when known. */
  zoomText(scale) {
    const step = ZOOMS[this.zoom] === 1 ? 'fit' : `${ZOOMS[this.zoom]}× fit`;
    return scale ? `${step} (${Math.round(scale * 100)} %)` : step;
  },

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
  },
};
