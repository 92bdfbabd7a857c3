// Which characters of the text being edited still are the model's, and how sure
// it was of each: the longest common prefix and suffix of the edited text and
// the prediction keep their confidences; what lies between was typed.

import {h} from './dom.js';

const LOW = 0.5;
const MEDIUM = 0.8;

export function level(confidence) {
  if (confidence === null || confidence === undefined) return 'edited';
  if (confidence < LOW) return 'low';
  if (confidence < MEDIUM) return 'medium';
  return 'sure';
}

/**
 * For each character of `text`, {char, source}: source is the index of the
 * prediction character it still is, or null for a typed one.
 */
export function alignToPrediction(text, predicted) {
  const chars = Array.from(text);
  const pred = Array.from(predicted || '');
  let prefix = 0;
  while (prefix < chars.length && prefix < pred.length && chars[prefix] === pred[prefix]) prefix += 1;
  let suffix = 0;
  while (
    suffix < chars.length - prefix &&
    suffix < pred.length - prefix &&
    chars[chars.length - 1 - suffix] === pred[pred.length - 1 - suffix]
  ) {
    suffix += 1;
  }
  return chars.map((char, i) => {
    if (i < prefix) return {char, source: i};
    if (i >= chars.length - suffix) return {char, source: pred.length - (chars.length - i)};
    return {char, source: null};
  });
}

/** Where the caret starts: on the first character the model was unsure of, else at the end. */
export function firstUnsure(confidences, threshold = MEDIUM) {
  const index = (confidences || []).findIndex((c) => c < threshold);
  return index;
}

/** UTF-16 offset of the n-th code point of `text` (input selection works in UTF-16 units). */
export function codeUnitOffset(text, codePoints) {
  return Array.from(text).slice(0, codePoints).join('').length;
}

/** Code-point index of a UTF-16 offset. */
export function codePointIndex(text, offset) {
  return Array.from(text.slice(0, offset)).length;
}

/** The model's reading, each character coloured by how sure the model was of it. */
export function reading(text, confidences) {
  return h('span', {class: 'reading'}, Array.from(text).map((char, i) => h('span', {class: `c-${level(confidences?.[i])}`}, char)));
}
