// Team (project admins): the members and their roles, adding an existing user
// by username or e-mail, inviting someone by a single-use link, the open
// invitations; what the project is (name, languages, guidelines...), archiving
// and deleting it.

import {api} from '../api.js';
import {announce, formatDate, h, replace, showError} from '../dom.js';
import {errorLine, field, roleOptions, select, submitting} from '../forms.js';
import {isAdmin} from '../roles.js';
import {aboutFields} from './project-new.js';

export async function render(main, {me, project, vocabulary}) {
  if (!isAdmin(project.role)) {
    replace(main, h('h1', {}, 'Team'), h('p', {}, "Managing the team needs the admin role in this project."));
    return;
  }
  const page = new TeamPage(main, project, vocabulary, me);
  await page.load();
}

class TeamPage {
  constructor(main, project, vocabulary, me) {
    this.main = main;
    this.project = project;
    this.vocabulary = vocabulary;
    this.me = me;
    this.base = `/api/projects/${project.id}`;
    this.membersBox = h('div', {class: 'table-scroll'});
    this.invitationsBox = h('div', {class: 'table-scroll'});
    this.aboutBox = h('section', {class: 'card form', 'aria-labelledby': 'about-title'});
    this.inviteResult = h('div', {class: 'invite-result', 'aria-live': 'polite'});
    replace(
      main,
      h('h1', {}, 'Team'),
      h(
        'div',
        {class: 'team-grid'},
        h(
          'div',
          {},
          h('section', {class: 'card', 'aria-labelledby': 'members-title'}, h('h2', {id: 'members-title'}, 'Members'), this.membersBox),
          this.addForm(),
          this.inviteForm(),
          h('section', {class: 'card', 'aria-labelledby': 'invitations-title'}, h('h2', {id: 'invitations-title'}, 'Open invitations'), this.invitationsBox),
        ),
        h('div', {}, this.aboutBox, this.dangerZone()),
      ),
    );
  }

  async load() {
    try {
      const [members, invitations, detail] = await Promise.all([
        api.get(`${this.base}/members`),
        api.get(`${this.base}/invitations`),
        api.get(this.base),
      ]);
      this.detail = detail;
      this.renderMembers(members);
      this.renderInvitations(invitations);
      this.renderAbout(detail);
    } catch (error) {
      showError(`Could not load the team: ${error.message}`);
    }
  }

  async reloadLists() {
    const [members, invitations] = await Promise.all([api.get(`${this.base}/members`), api.get(`${this.base}/invitations`)]);
    this.renderMembers(members);
    this.renderInvitations(invitations);
  }

  renderMembers(members) {
    const rows = members.map((member) => {
      const role = select({'aria-label': `Role of ${member.username}`}, roleOptions(this.vocabulary), member.role);
      role.addEventListener('change', async () => {
        try {
          await api.patch(`${this.base}/members/${member.id}`, {role: role.value});
          announce(`${member.username} is now ${role.value}.`);
        } catch (error) {
          role.value = member.role;
          showError(error.message);
          return;
        }
        member.role = role.value;
      });
      const remove = h('button', {type: 'button', class: 'danger', 'aria-label': `Remove ${member.username}`}, 'Remove');
      remove.addEventListener('click', async () => {
        try {
          await api.delete(`${this.base}/members/${member.id}`);
          announce(`${member.username} was removed from the project.`);
          await this.reloadLists();
        } catch (error) {
          showError(error.message);
        }
      });
      const you = member.user === this.me.id ? h('span', {class: 'muted'}, ' (you)') : null;
      return h('tr', {}, h('td', {}, member.username, you), h('td', {}, member.email || '–'), h('td', {}, role), h('td', {}, remove));
    });
    replace(
      this.membersBox,
      h('table', {}, h('thead', {}, h('tr', {}, ['User', 'E-mail', 'Role', ''].map((t) => h('th', {}, t)))), h('tbody', {}, rows)),
    );
  }

  renderInvitations(invitations) {
    if (!invitations.length) {
      replace(this.invitationsBox, h('p', {class: 'muted'}, 'None.'));
      return;
    }
    const rows = invitations.map((invitation) => {
      const withdraw = h('button', {type: 'button', class: 'danger', 'aria-label': `Withdraw the invitation of ${invitation.email}`}, 'Withdraw');
      withdraw.addEventListener('click', async () => {
        try {
          await api.delete(`${this.base}/invitations/${invitation.id}`);
          await this.reloadLists();
        } catch (error) {
          showError(error.message);
        }
      });
      return h(
        'tr',
        {},
        h('td', {}, invitation.email),
        h('td', {}, invitation.role),
        h('td', {}, h('span', {class: `badge ${invitation.state}`}, invitation.state)),
        h('td', {}, formatDate(invitation.expires_at)),
        h('td', {}, withdraw),
      );
    });
    replace(
      this.invitationsBox,
      h('table', {}, h('thead', {}, h('tr', {}, ['E-mail', 'Role', 'State', 'Expires', ''].map((t) => h('th', {}, t)))), h('tbody', {}, rows)),
    );
  }

  addForm() {
    const user = h('input', {id: 'add-user', required: true, autocomplete: 'off'});
    const role = select({id: 'add-role'}, roleOptions(this.vocabulary), 'labeler');
    const error = errorLine('add-error');
    const button = h('button', {type: 'submit'}, 'Add member');
    const form = h('form', {class: 'card form', 'aria-labelledby': 'add-title'}, h('h2', {id: 'add-title'}, 'Add someone who has an account'), field('Username or e-mail', user), field('Role', role), error, button);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const added = await submitting(button, error, () => api.post(`${this.base}/members`, {user: user.value.trim(), role: role.value}));
      if (!added) return;
      announce(`${added.username} joined as ${added.role}.`);
      user.value = '';
      await this.reloadLists();
    });
    return form;
  }

  inviteForm() {
    const email = h('input', {id: 'invite-email', type: 'email', required: true, autocomplete: 'off'});
    const role = select({id: 'invite-role'}, roleOptions(this.vocabulary), 'labeler');
    const error = errorLine('invite-error');
    const button = h('button', {type: 'submit', class: 'primary'}, 'Send invitation');
    const form = h(
      'form',
      {class: 'card form', 'aria-labelledby': 'invite-title'},
      h('h2', {id: 'invite-title'}, 'Invite someone new'),
      field('E-mail', email, 'They get a link that works once and expires; they choose a username and password.'),
      field('Role', role),
      error,
      button,
      this.inviteResult,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const invitation = await submitting(button, error, () => api.post(`${this.base}/invitations`, {email: email.value.trim(), role: role.value}));
      if (!invitation) return;
      replace(
        this.inviteResult,
        h('p', {class: 'ok'}, `Invitation sent to ${invitation.email} (${invitation.role}). You can also pass on the link:`),
        h('input', {class: 'invite-link', readonly: true, value: invitation.link, 'aria-label': 'Invitation link', onfocus: (e) => e.target.select()}),
      );
      email.value = '';
      await this.reloadLists();
    });
    return form;
  }

  renderAbout(detail) {
    const about = aboutFields(this.vocabulary, detail);
    const error = errorLine('about-error');
    const button = h('button', {type: 'submit', class: 'primary'}, 'Save');
    const form = h('form', {}, about.nodes, error, button);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const saved = await submitting(button, error, () => api.patch(this.base, about.values()));
      if (saved) announce('Saved.');
    });
    replace(this.aboutBox, h('h2', {id: 'about-title'}, 'The project'), form);
  }

  dangerZone() {
    const archive = h('button', {type: 'button'}, 'Archive the project');
    archive.addEventListener('click', async () => {
      try {
        await api.patch(this.base, {archived: true});
        window.location.assign('/');
      } catch (error) {
        showError(error.message);
      }
    });
    const confirm = h('input', {id: 'delete-confirm', autocomplete: 'off'});
    const error = errorLine('delete-error');
    const button = h('button', {type: 'submit', class: 'danger', disabled: true}, 'Delete the project');
    confirm.addEventListener('input', () => {
      button.disabled = confirm.value !== this.project.name;
    });
    const form = h(
      'form',
      {},
      field('Type the project\u2019s name to delete it', confirm, 'Deleting removes every line, label, model and file of the project. It cannot be undone.'),
      error,
      button,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const done = await submitting(button, error, () => api.delete(this.base, {confirm: confirm.value}).then(() => true));
      if (done) window.location.assign('/');
    });
    return h(
      'section',
      {class: 'card danger-zone', 'aria-labelledby': 'danger-title'},
      h('h2', {id: 'danger-title'}, 'Archive or delete'),
      h('p', {class: 'muted'}, 'An archived project leaves the project lists and keeps everything; bring it back from your projects page.'),
      archive,
      form,
    );
  }
}
