// The virtual keyboard of the labeling and review pages: the project's alphabet
// groups (known before any model or verified text has their characters), then
// what verified texts use beyond them. Alt+1…9 type the first nine keys,
// Alt+Shift+1…9 the next nine; every key is also a button (touch, mouse).

import {h, replace} from './dom.js';

const PER_ROW = 9;

/** The keys in keyboard order: [{char, group}] from the project detail's `keyboard`. */
export function keyboardKeys(detail) {
  return (detail?.keyboard || []).flatMap((group) => group.characters.map((char) => ({char, group: group.name})));
}

/** "Alt+3", "Alt+Shift+3", or null for a key beyond the second row of nine. */
export function keyHint(index) {
  if (index < PER_ROW) return `Alt+${index + 1}`;
  if (index < 2 * PER_ROW) return `Alt+Shift+${index - PER_ROW + 1}`;
  return null;
}

/** The key index an Alt(+Shift)+digit event names (by physical key, any layout), or -1. */
export function keyIndex(event) {
  if (!event.altKey || event.ctrlKey || event.metaKey) return -1;
  const digit = /^(?:Digit|Numpad)([1-9])$/.exec(event.code);
  if (!digit) return -1;
  return Number(digit[1]) - 1 + (event.shiftKey ? PER_ROW : 0);
}

/** Type `text` into `input` at its caret (replacing a selection), as if typed. */
export function typeAt(input, text) {
  if (input.disabled) return;
  const end = input.value.length;
  input.setRangeText(text, input.selectionStart ?? end, input.selectionEnd ?? end, 'end');
  input.focus();
  input.dispatchEvent(new Event('input', {bubbles: true}));
}

function codePoints(char) {
  return Array.from(char, (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`).join(' ');
}

/** A mark alone (U+0300…) is shown on a dotted circle, the way fonts show it. */
function shown(char) {
  return /^\p{M}/u.test(char) ? `◌${char}` : char;
}

/**
 * Render the keyboard into `box` from the project detail; `onInsert(char)`
 * types a key. Says the normalisation rules (NFC; historical characters
 * kept or modernised).
 */
export function renderKeyboard(box, detail, onInsert) {
  const keys = keyboardKeys(detail);
  box.hidden = !detail;
  if (!detail) return;
  let index = 0;
  const groups = (detail.keyboard || []).map((group) =>
    h(
      'div',
      {class: 'vkeys-group', role: 'group', 'aria-label': group.name},
      h('span', {class: 'muted vkeys-title'}, `${group.name}:`),
      group.characters.map((char) => {
        const hint = keyHint(index);
        const n = index;
        index += 1;
        return h(
          'button',
          {
            type: 'button',
            class: 'vkey',
            title: `${hint ? `${hint} · ` : ''}${codePoints(char)}`,
            'aria-label': `Insert ${char}${hint ? ` (${hint})` : ''}`,
            dataset: {key: String(n)},
            // Keep the focus (and the caret) in the text field.
            onmousedown: (event) => event.preventDefault(),
            onclick: () => onInsert(char),
          },
          h('span', {class: 'vkey-char'}, shown(char)),
          hint ? h('small', {}, n < PER_ROW ? String(n + 1) : `⇧${n - PER_ROW + 1}`) : null,
        );
      }),
    ),
  );
  const rules = detail.keep_historical
    ? 'Saved as Unicode NFC; historical characters (ſ, ꝛ, ligatures) are kept as typed.'
    : 'Saved as Unicode NFC; historical characters (ſ, ꝛ, ligatures) are replaced by their modern form.';
  replace(
    box,
    keys.length
      ? groups
      : h('span', {class: 'muted'}, 'No special characters listed for this project (an admin adds them on the Models page).'),
    h('p', {class: 'muted vkeys-rules', 'data-keep-historical': String(Boolean(detail.keep_historical))}, rules),
  );
}
