// Boot: who is logged in, the navigation their role allows, then the page the
// path names. Every page is a full load of the same shell, so each starts clean.
// The login, an invitation link and the password-reset pages need no session.

import {ApiError, Outbox, api, onUnauthenticated, outboxKey} from './api.js';
import {h, replace, showError} from './dom.js';
import {projectPages, setRoles} from './roles.js';

const PUBLIC_PAGES = new Set(['login', 'invite', 'password-reset']);

const ROUTES = [
  [/^\/login\/?$/, 'login', () => import('./pages/login.js')],
  [/^\/invite\/[A-Za-z0-9_-]+$/, 'invite', () => import('./pages/invite.js')],
  [/^\/password-reset(\/[A-Za-z0-9_-]+\/[A-Za-z0-9-]+)?$/, 'password-reset', () => import('./pages/password-reset.js')],
  [/^\/$/, 'projects', () => import('./pages/projects.js')],
  [/^\/projects\/new$/, 'new project', () => import('./pages/project-new.js')],
  [/^\/account$/, 'account', () => import('./pages/account.js')],
  [/^\/projects\/(\d+)\/team$/, 'team', () => import('./pages/team.js')],
  [/^\/projects\/(\d+)\/label$/, 'label', () => import('./pages/label.js')],
  [/^\/projects\/(\d+)\/review$/, 'review', () => import('./pages/review.js')],
  [/^\/projects\/(\d+)\/models$/, 'models', () => import('./pages/models.js')],
  [/^\/projects\/(\d+)\/import$/, 'import', () => import('./pages/import.js')],
  [/^\/projects\/(\d+)\/documents$/, 'documents', () => import('./pages/documents.js')],
  [/^\/projects\/(\d+)\/search$/, 'search', () => import('./pages/search.js')],
  [/^\/projects\/(\d+)\/stats$/, 'stats', () => import('./pages/stats.js')],
  [/^\/projects\/(\d+)\/exports$/, 'exports', () => import('./pages/exports.js')],
  [/^\/projects\/(\d+)\/lines\/\d+$/, 'line', () => import('./pages/line.js')],
  [/^\/projects\/(\d+)\/pages\/\d+$/, 'page', () => import('./pages/page-view.js')],
];

function loginUrl() {
  const next = window.location.pathname + window.location.search;
  return `/login${next && next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`;
}

function renderNav(me, page, projectId) {
  const nav = document.getElementById('nav');
  const link = (href, label, current) => h('a', {href, 'aria-current': current ? 'page' : null}, label);
  const items = [link('/', 'Projects', page === 'projects')];
  const project = projectId ? me.projects.find((p) => p.id === projectId) : null;
  if (project) {
    items.push(h('span', {class: 'nav-project', title: `Your role: ${project.role}`}, project.name));
    for (const [key, label] of projectPages(project.role, {canExport: project.can_export})) {
      items.push(link(`/projects/${project.id}/${key}`, label, page === key));
    }
  }
  replace(nav, h('ul', {}, items.map((item) => h('li', {}, item))));

  const logout = async () => {
    try {
      // The server gives the lines you hold back to the queue, except those
      // whose submit is still on its way (they land after the next login).
      await api.post('/api/auth/logout', {keep: new Outbox(outboxKey(me.id)).pendingLineIds});
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) return showError(error.message);
    }
    window.location.assign('/login');
  };
  replace(
    document.getElementById('account'),
    h('a', {href: '/account', title: 'Your account: change your password', 'aria-current': page === 'account' ? 'page' : null}, me.username),
    me.is_staff ? h('a', {href: '/admin/'}, 'Admin') : null,
    h('button', {type: 'button', class: 'link', onclick: logout}, 'Log out'),
  );
}

async function boot() {
  const main = document.getElementById('main');
  const path = window.location.pathname;
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, h('a', {href: '/'}, 'Back to your projects')));
    return;
  }
  const [pattern, page, load] = route;
  const projectId = Number(path.match(pattern)[1]) || null;
  const module = await load();
  if (PUBLIC_PAGES.has(page)) {
    await module.render(main);
    return;
  }
  let redirecting = false;
  onUnauthenticated(() => {
    if (!redirecting) {
      redirecting = true;
      window.location.assign(loginUrl());
    }
  });
  let me;
  let vocabulary;
  try {
    [me, vocabulary] = await Promise.all([api.get('/api/me'), api.vocabulary()]);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'not_authenticated') return;
    replace(main, h('h1', {}, 'Lineproof'), h('p', {class: 'error'}, `Could not reach the server: ${error.message}`));
    return;
  }
  setRoles(vocabulary.roles);
  renderNav(me, page, projectId);
  const project = projectId ? me.projects.find((p) => p.id === projectId) : null;
  if (projectId && !project) {
    replace(main, h('h1', {}, 'No such project'), h('p', {}, 'It does not exist, or you are not a member.'));
    return;
  }
  document.title = project ? `${page[0].toUpperCase()}${page.slice(1)} · ${project.name} · Lineproof` : 'Lineproof';
  await module.render(main, {me, project, vocabulary});
}

boot().catch((error) => {
  console.error(error);
  showError(`Something went wrong: ${error.message}`);
});
