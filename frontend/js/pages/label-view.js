// The labeling page's elements: the head with the counters and the sync state,
// the line's crop (zoomable, with the character under the caret outlined) and
// the page around it, the text with its coloured mirror and the model's
// reading, the touch actions, the flag panel, the special characters' keys, the
// guidelines, the keys' help, what the server refused and your recent lines.
// Built once; label.js fills them and wires the events.

import {h, kbd} from '../dom.js';
import {flagPanel} from './label-flag.js';

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

/**
 * `flagKinds`: the vocabulary's flag_kinds; `on`: the page's actions for the
 * touch buttons and the flag panel ({back, skip, openFlag, submit, flagLine(kind, comment)}).
 * Returns the elements the page uses, by name: {section, counters, sync, cropFrame,
 * cropScroll, cropInner, image, mark, placeholder, zoomLabel, contextFigure, context,
 * fieldLabel, mirror, input, reading, flag, vkeys, guidelinesBox, failedBox, recentBox}.
 */
export function labelView(flagKinds, on) {
  const counters = h('dl', {class: 'counters', 'aria-label': 'Progress'});
  const sync = h('p', {class: 'sync', role: 'status', 'aria-live': 'polite'});
  const image = h('img', {class: 'crop', alt: 'The line to transcribe', draggable: 'false', decoding: 'async'});
  const mark = h('div', {class: 'char-mark', hidden: true});
  const cropInner = h('div', {class: 'crop-inner'}, image, mark);
  const cropScroll = h('div', {class: 'crop-scroll', tabindex: '-1'}, cropInner);
  const zoomLabel = h('span', {class: 'zoom-label muted', 'aria-hidden': 'true'});
  // Shown instead of the crop until its image is painted: never a broken image.
  const placeholder = h('div', {class: 'crop-placeholder muted'}, 'Loading the line image…');
  const cropFrame = h('div', {class: 'crop-frame crop-loading'}, cropScroll, placeholder, zoomLabel);
  // The page around the line (lines cut from a page only): the neighbouring
  // lines settle abbreviations and words split across lines.
  const context = h('img', {class: 'context', alt: 'The page around this line, the line outlined', decoding: 'async'});
  const contextFigure = h('figure', {class: 'context-frame', hidden: true}, context);
  const mirror = h('div', {class: 'mirror', 'aria-hidden': 'true'});
  const input = h('input', {
    id: 'line-text', class: 'line-text', type: 'text', autocomplete: 'off', autocapitalize: 'off',
    autocorrect: 'off', spellcheck: 'false', dir: 'auto', 'aria-describedby': 'model-reading keys-help',
  });
  const fieldLabel = h('label', {for: 'line-text'}, 'Transcription');
  const reading = h('p', {class: 'model-reading muted', id: 'model-reading'});
  const vkeys = h('div', {class: 'vkeys', role: 'group', 'aria-label': 'Special characters'});
  // For touch: the keys' actions as buttons (they keep the caret in the text).
  const action = (label, keys, onclick, extra = {}) =>
    h('button', {type: 'button', title: keys, onmousedown: (event) => event.preventDefault(), onclick, ...extra}, label);
  const actions = h(
    'div',
    {class: 'touch-actions', role: 'group', 'aria-label': 'Actions'},
    action('Back', 'Alt+B', () => on.back(), {class: 'action-back'}),
    action('Skip', 'Alt+S', () => on.skip(), {class: 'action-skip'}),
    action('Flag…', 'Alt+F', () => on.openFlag(), {class: 'action-flag'}),
    action('Submit', 'Enter', () => on.submit(), {class: 'primary action-submit'}),
  );
  const flag = flagPanel(flagKinds, {
    onFlag: (kind, comment) => on.flagLine(kind, comment),
    onClose: () => input.focus(),
  });
  const failedBox = h('section', {class: 'failed', hidden: true, 'aria-labelledby': 'failed-title'});
  const recentBox = h('section', {class: 'recent', hidden: true, 'aria-labelledby': 'recent-title'});
  const guidelinesBox = h('div', {class: 'guidelines-slot'});
  const section = h(
    'section',
    {class: 'label-page', 'aria-labelledby': 'label-title'},
    h('div', {class: 'label-head'}, h('h1', {id: 'label-title'}, 'Label'), counters, sync),
    cropFrame,
    contextFigure,
    h('div', {class: 'editor'}, fieldLabel, h('div', {class: 'field'}, mirror, input), reading),
    actions,
    flag.el,
    vkeys,
    guidelinesBox,
    h(
      'aside',
      {class: 'keys', id: 'keys-help', 'aria-label': 'Keyboard'},
      h('h2', {}, 'Keys'),
      h('dl', {}, KEYMAP.map(([keys, what]) => [h('dt', {}, kbd(...keys)), h('dd', {}, what)])),
    ),
    failedBox,
    recentBox,
  );
  return {
    section, counters, sync, cropFrame, cropScroll, cropInner, image, mark, placeholder, zoomLabel,
    contextFigure, context, fieldLabel, mirror, input, reading, flag, vkeys, guidelinesBox, failedBox, recentBox,
  };
}
