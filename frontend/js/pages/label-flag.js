// The labeling page's flag panel: instead of typing, mark the line as one of
// the vocabulary's flag kinds ("illegible", "not a text line", "needs a second
// look"), with an optional comment. Alt+F opens it, Esc closes it.

import {h} from '../dom.js';

/**
 * `kinds`: the vocabulary's flag_kinds; `onFlag(kind, comment)` flags the line
 * on screen; `onClose()` gives the focus back to the text. Returns
 * {el, open(), close(), isOpen}.
 */
export function flagPanel(kinds, {onFlag, onClose}) {
  const choices = kinds.map(({name, description}, i) =>
    h(
      'label',
      {class: 'check'},
      h('input', {type: 'radio', name: 'flag-kind', value: name, checked: i === 0}),
      description,
    ),
  );
  const comment = h('input', {
    id: 'flag-comment', type: 'text', maxlength: '500', autocomplete: 'off', placeholder: 'optional',
  });
  const form = h(
    'form',
    {class: 'flag-panel card', hidden: true, 'aria-labelledby': 'flag-title'},
    h('h2', {id: 'flag-title'}, 'Flag this line instead of typing it'),
    h('fieldset', {}, h('legend', {class: 'visually-hidden'}, 'Flag'), choices),
    h('label', {for: 'flag-comment'}, 'Comment'),
    comment,
    h(
      'div',
      {class: 'actions'},
      h('button', {type: 'submit', class: 'primary'}, 'Flag line'),
      h('button', {type: 'button', onclick: () => panel.close()}, 'Cancel'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const kind = form.querySelector('input[name="flag-kind"]:checked')?.value;
    if (!kind) return;
    const text = comment.value.trim();
    panel.close();
    onFlag(kind, text);
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      panel.close();
    }
  });
  const panel = {
    el: form,
    get isOpen() {
      return !form.hidden;
    },
    open() {
      form.hidden = false;
      comment.value = '';
      form.querySelector('input[name="flag-kind"]:checked')?.focus();
    },
    close() {
      if (form.hidden) return;
      form.hidden = true;
      onClose();
    },
  };
  return panel;
}
