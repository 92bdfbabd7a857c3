// What each role may do in a project, as the server defines it (/api/vocabulary).

let roles = new Map();

/** Called once at boot with the vocabulary's roles. */
export function setRoles(list) {
  roles = new Map(list.map((role) => [role.name, role]));
}

export const isAdmin = (role) => Boolean(roles.get(role)?.can_admin);
export const canReview = (role) => Boolean(roles.get(role)?.can_review);

/** The pages of one project a member with `role` may open, in menu order. */
export function projectPages(role) {
  const pages = [['label', 'Label']];
  if (canReview(role)) pages.push(['review', 'Review']);
  pages.push(['models', 'Models']);
  if (isAdmin(role)) pages.push(['import', 'Import'], ['team', 'Team']);
  return pages;
}
