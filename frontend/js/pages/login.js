import {ApiError, api} from '../api.js';
import {h, replace} from '../dom.js';

/** Only same-site paths: ?next= must not send anyone elsewhere. */
function nextPath() {
  const next = new URLSearchParams(window.location.search).get('next') || '/';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function render(main) {
  document.title = 'Log in · Lineproof';
  const error = h('p', {class: 'error', id: 'login-error', role: 'alert'});
  const username = h('input', {id: 'username', name: 'username', autocomplete: 'username', required: true});
  const password = h('input', {
    id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const button = h('button', {type: 'submit', class: 'primary'}, 'Log in');
  // Checking a password takes a moment (the hash is slow on purpose): show it.
  const progress = h(
    'p',
    {class: 'login-progress muted', id: 'login-progress', role: 'status', hidden: true},
    h('span', {class: 'spinner', 'aria-hidden': 'true'}),
    'Checking your password…',
  );
  const form = h(
    'form',
    {class: 'card login', 'aria-describedby': 'login-error'},
    h('h1', {}, 'Log in to Lineproof'),
    h('label', {for: 'username'}, 'Username'),
    username,
    h('label', {for: 'password'}, 'Password'),
    password,
    error,
    progress,
    button,
    h('p', {}, h('a', {href: '/password-reset'}, 'Forgot your password?')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    button.disabled = true;
    button.textContent = 'Logging in…';
    form.setAttribute('aria-busy', 'true');
    progress.hidden = false;
    try {
      await api.post('/api/auth/login', {username: username.value, password: password.value}, {retries: 2});
      window.location.assign(nextPath());
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : `Could not reach the server: ${err.message}`;
      button.disabled = false;
      button.textContent = 'Log in';
      form.removeAttribute('aria-busy');
      progress.hidden = true;
      password.select();
    }
  });
  replace(main, form);
  username.focus();
}
