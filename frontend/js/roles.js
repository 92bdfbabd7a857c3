// What each role may do in a project, as the server defines it (/api/vocabulary).

let roles = new Map();

/** Called once at boot with the vocabulary's roles. */
export function setRoles(list) {
  roles = new Map(list.map((role) => [role.name, role]));
}

export const isAdmin = (role) => Boolean(roles.get(role)?.can_admin);
export const canReview = (role) => Boolean(roles.get(role)?.can_review);

/** The pages of one project a member with `role` may open, in menu order
 * (`canExport`: the project lets this member export, from /api/me). */
export function projectPages(role, {canExport = false} = {}) {
  const pages = [['label', 'Label']];
  if (canReview(role)) pages.push(['review', 'Review']);
  pages.push(['documents', 'Documents'], ['search', 'Search']);
  if (canReview(role)) pages.push(['stats', 'Statistics']);
  pages.push(['models', 'Models']);
  if (isAdmin(role)) pages.push(['import', 'Import'], ['team', 'Team']);
  if (canExport) pages.push(['exports', 'Export']);
  return pages;
}
