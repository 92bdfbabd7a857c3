// A forgotten password: /password-reset asks for a link by e-mail (the answer
// is the same whether or not the account exists); the link,
// /password-reset/<uid>/<token>, sets a new password.

import {api} from '../api.js';
import {h, replace} from '../dom.js';
import {errorLine, field, passwordsMatch, submitting} from '../forms.js';

function requestForm(main) {
  const user = h('input', {id: 'reset-user', autocomplete: 'username', required: true});
  const error = errorLine('reset-error');
  const button = h('button', {type: 'submit', class: 'primary'}, 'Send me a link');
  const form = h(
    'form',
    {class: 'card login', 'aria-labelledby': 'reset-title'},
    h('h1', {id: 'reset-title'}, 'Forgot your password?'),
    field('Username or e-mail', user),
    error,
    button,
    h('p', {}, h('a', {href: '/login'}, 'Back to the login')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const sent = await submitting(button, error, () => api.post('/api/auth/password-reset', {user: user.value.trim()}).then(() => true));
    if (sent) {
      replace(form, h('h1', {}, 'Check your e-mail'), h('p', {}, 'If an account with an e-mail address matches, a link to choose a new password is on its way.'), h('p', {}, h('a', {href: '/login'}, 'Back to the login')));
    }
  });
  replace(main, form);
  user.focus();
}

function confirmForm(main, uid, token) {
  const password = h('input', {id: 'new-password', type: 'password', autocomplete: 'new-password', required: true});
  const repeat = h('input', {id: 'new-password-repeat', type: 'password', autocomplete: 'new-password', required: true});
  const error = errorLine('reset-error');
  const button = h('button', {type: 'submit', class: 'primary'}, 'Set the new password');
  const form = h(
    'form',
    {class: 'card login', 'aria-labelledby': 'reset-title'},
    h('h1', {id: 'reset-title'}, 'Choose a new password'),
    field('New password', password, 'At least 8 characters, not only digits, not a common password.'),
    field('New password again', repeat),
    error,
    button,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    if (!passwordsMatch(password, repeat, error)) return;
    const done = await submitting(button, error, () =>
      api.post('/api/auth/password-reset/confirm', {uid, token, new_password: password.value}).then(() => true),
    );
    if (done) replace(form, h('h1', {}, 'Password changed'), h('p', {}, h('a', {href: '/login', class: 'button primary'}, 'Log in')));
  });
  replace(main, form);
  password.focus();
}

export function render(main) {
  document.title = 'Password · Lineproof';
  const [, , uid, token] = window.location.pathname.split('/');
  if (uid && token) confirmForm(main, uid, token);
  else requestForm(main);
}
