// An invitation link (/invite/<token>): what it offers, then joining, either
// as the logged-in user or with a new account (username and password). No
// session needed; accepting logs the new account in and opens the project.

import {api} from '../api.js';
import {h, replace} from '../dom.js';
import {errorLine, field, passwordsMatch, submitting} from '../forms.js';

const token = () => window.location.pathname.split('/').pop();

async function currentUser() {
  try {
    return await api.get('/api/me');
  } catch {
    return null; // not logged in
  }
}

export async function render(main) {
  document.title = 'Invitation · Lineproof';
  let invitation;
  try {
    invitation = await api.get(`/api/invitations/${token()}`);
  } catch (error) {
    replace(main, h('div', {class: 'card login'}, h('h1', {}, 'Invitation'), h('p', {class: 'error'}, error.message)));
    return;
  }
  const heading = h('h1', {}, `Join ${invitation.project}`);
  const offer = h('p', {}, `${invitation.invited_by || 'An admin'} invites ${invitation.email} to the project as ${invitation.role}.`);
  if (invitation.state !== 'open') {
    const why = invitation.state === 'used' ? 'This invitation was used already.' : 'This invitation has expired.';
    replace(main, h('div', {class: 'card login'}, heading, offer, h('p', {class: 'error'}, `${why} Ask the project's admin for a new one.`)));
    return;
  }
  const me = await currentUser();
  const error = errorLine('invite-error');
  const accept = async (button, body) => {
    const membership = await submitting(button, error, () => api.post(`/api/invitations/${token()}/accept`, body));
    if (membership) window.location.assign(`/projects/${membership.project}/label`);
  };
  if (me) {
    const button = h('button', {type: 'button', class: 'primary'}, `Join as ${me.username}`);
    button.addEventListener('click', () => accept(button, {}));
    replace(main, h('div', {class: 'card login'}, heading, offer, h('p', {class: 'muted'}, `You are logged in as ${me.username}.`), error, button));
    return;
  }
  const username = h('input', {id: 'username', autocomplete: 'username', required: true});
  const password = h('input', {id: 'password', type: 'password', autocomplete: 'new-password', required: true});
  const repeat = h('input', {id: 'password-repeat', type: 'password', autocomplete: 'new-password', required: true});
  const button = h('button', {type: 'submit', class: 'primary'}, 'Create my account and join');
  const form = h(
    'form',
    {class: 'card login', 'aria-labelledby': 'invite-title'},
    h('h1', {id: 'invite-title'}, `Join ${invitation.project}`),
    offer,
    field('Choose a username', username),
    field('Choose a password', password, 'At least 8 characters, not only digits, not a common password.'),
    field('The password again', repeat),
    error,
    button,
    h('p', {class: 'muted'}, 'Have an account already? ', h('a', {href: `/login?next=${encodeURIComponent(window.location.pathname)}`}, 'Log in'), ' first: it brings you back here.'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.textContent = '';
    if (passwordsMatch(password, repeat, error)) accept(button, {username: username.value.trim(), password: password.value});
  });
  replace(main, form);
  username.focus();
}
