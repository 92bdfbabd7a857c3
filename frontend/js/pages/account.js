// Your account: change your password (you stay logged in).

import {api} from '../api.js';
import {announce, h, replace} from '../dom.js';
import {errorLine, field, passwordsMatch, submitting} from '../forms.js';

export function render(main, {me}) {
  document.title = 'Account · Lineproof';
  const old = h('input', {id: 'old-password', type: 'password', autocomplete: 'current-password', required: true});
  const password = h('input', {id: 'new-password', type: 'password', autocomplete: 'new-password', required: true});
  const repeat = h('input', {id: 'new-password-repeat', type: 'password', autocomplete: 'new-password', required: true});
  const error = errorLine('password-error');
  const done = h('p', {class: 'ok', role: 'status'});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Change password');
  const form = h(
    'form',
    {class: 'card login', 'aria-labelledby': 'account-title'},
    h('h1', {id: 'account-title'}, 'Your account'),
    h('p', {}, `${me.username}${me.email ? ` · ${me.email}` : ''}`),
    h('h2', {}, 'Change your password'),
    field('Current password', old),
    field('New password', password, 'At least 8 characters, not only digits, not a common password.'),
    field('New password again', repeat),
    error,
    button,
    done,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    done.textContent = '';
    error.textContent = '';
    if (!passwordsMatch(password, repeat, error)) return;
    const changed = await submitting(button, error, () =>
      api.post('/api/me/password', {old_password: old.value, new_password: password.value}).then(() => true),
    );
    if (!changed) return;
    form.reset();
    done.textContent = 'Your password was changed.';
    announce('Password changed.');
  });
  replace(main, form);
}
