from django.contrib import admin
from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView

from annotator import views
from annotator.apis import (
    accounts,
    alphabet,
    documents,
    exports,
    flags,
    imports,
    labeling,
    members,
    pages,
    passwords,
    projects,
    review,
    team,
    training,
    vocabulary,
)


class IdConverter:
    """A row id: digits that fit the database's bigint (18 always do), so a
    longer number is a 404 from the resolver, never a database error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


class TokenConverter:
    """An invitation's token (URL-safe base64); any other text is a 404 from the resolver."""

    regex = "[A-Za-z0-9_-]{1,128}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "token")

PROJECT = "api/projects/<id:project_id>"
LINE = "api/lines/<id:line_id>"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/auth/token", accounts.TokenApi.as_view(), name="auth-token"),
    # browser sessions (the UI)
    path("api/auth/login", accounts.LoginApi.as_view(), name="auth-login"),
    path("api/auth/logout", accounts.LogoutApi.as_view(), name="auth-logout"),
    path("api/me", accounts.MeApi.as_view(), name="me"),
    path("api/me/password", passwords.PasswordChangeApi.as_view(), name="me-password"),
    path("api/auth/password-reset", passwords.PasswordResetApi.as_view(), name="password-reset"),
    path("api/auth/password-reset/confirm", passwords.PasswordResetConfirmApi.as_view(), name="password-reset-confirm"),
    path("api/vocabulary", vocabulary.VocabularyApi.as_view(), name="vocabulary"),
    # projects
    path("api/projects", projects.ProjectListApi.as_view(), name="project-list"),
    path(PROJECT, projects.ProjectDetailApi.as_view(), name="project-detail"),
    path(f"{PROJECT}/schedule", projects.ProjectScheduleApi.as_view(), name="project-schedule"),
    path(f"{PROJECT}/settings", projects.ProjectSettingsApi.as_view(), name="project-settings"),
    path(f"{PROJECT}/alphabet", alphabet.ProjectAlphabetApi.as_view(), name="project-alphabet"),
    # the team
    path(f"{PROJECT}/members", members.MemberListApi.as_view(), name="member-list"),
    path(f"{PROJECT}/members/<id:membership_id>", members.MemberDetailApi.as_view(), name="member-detail"),
    path(f"{PROJECT}/invitations", members.InvitationListApi.as_view(), name="invitation-list"),
    path(f"{PROJECT}/invitations/<id:invitation_id>", members.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("api/invitations/<token:token>", members.InvitationPublicApi.as_view(), name="invitation-public"),
    path("api/invitations/<token:token>/accept", members.InvitationAcceptApi.as_view(), name="invitation-accept"),
    # the queue and lines
    path(f"{PROJECT}/queue/next", labeling.QueueNextApi.as_view(), name="queue-next"),
    path(f"{PROJECT}/queue/previous", labeling.QueuePreviousApi.as_view(), name="queue-previous"),
    path(f"{PROJECT}/queue/recent", labeling.QueueRecentApi.as_view(), name="queue-recent"),
    path(f"{PROJECT}/queue/release", labeling.QueueReleaseApi.as_view(), name="queue-release"),
    path(f"{LINE}/heartbeat", labeling.LineHeartbeatApi.as_view(), name="line-heartbeat"),
    path(f"{LINE}/skip", labeling.LineSkipApi.as_view(), name="line-skip"),
    path(f"{LINE}/submit", labeling.LineSubmitApi.as_view(), name="line-submit"),
    path(f"{LINE}/draft", labeling.LineDraftApi.as_view(), name="line-draft"),
    path(f"{LINE}/flag", flags.LineFlagApi.as_view(), name="line-flag"),
    path(f"{LINE}/flag/decision", flags.LineFlagDecisionApi.as_view(), name="line-flag-decision"),
    path(f"{LINE}/image", labeling.LineImageApi.as_view(), name="line-image"),
    path(f"{LINE}/context", labeling.LineContextApi.as_view(), name="line-context"),
    # imports and exports
    path(f"{PROJECT}/imports", imports.ImportJobListApi.as_view(), name="import-list"),
    path("api/imports/<id:job_id>", imports.ImportJobDetailApi.as_view(), name="import-detail"),
    path(f"{PROJECT}/exports", exports.ExportJobListApi.as_view(), name="export-list"),
    path("api/exports/<id:job_id>", exports.ExportJobDetailApi.as_view(), name="export-detail"),
    path("api/exports/<id:job_id>/download", exports.ExportDownloadApi.as_view(), name="export-download"),
    # documents, search, one line
    path(f"{PROJECT}/documents", documents.DocumentListApi.as_view(), name="document-list"),
    path(f"{PROJECT}/search", documents.LineSearchApi.as_view(), name="line-search"),
    path(LINE, documents.LineDetailApi.as_view(), name="line-detail"),
    # the page view: a page's lines and the fixes to its cut
    path("api/pages/<id:page_id>", pages.PageDetailApi.as_view(), name="page-detail"),
    path("api/pages/<id:page_id>/image", pages.PageImageApi.as_view(), name="page-image"),
    path("api/pages/<id:page_id>/lines", pages.PageLineListApi.as_view(), name="page-line-list"),
    path("api/pages/<id:page_id>/reading-order", pages.PageReadingOrderApi.as_view(), name="page-reading-order"),
    path("api/pages/<id:page_id>/resegment", pages.PageResegmentApi.as_view(), name="page-resegment"),
    path("api/documents/<id:document_id>/resegment", pages.DocumentResegmentApi.as_view(), name="document-resegment"),
    path("api/resegment-jobs/<id:job_id>", pages.ResegmentJobDetailApi.as_view(), name="resegment-job-detail"),
    path(f"{LINE}/split", pages.LineSplitApi.as_view(), name="line-split"),
    path(f"{LINE}/merge", pages.LineMergeApi.as_view(), name="line-merge"),
    # review and the team's statistics
    path(f"{PROJECT}/review", review.ReviewListApi.as_view(), name="review-list"),
    path(f"{PROJECT}/team-stats", team.TeamStatsApi.as_view(), name="team-stats"),
    path(f"{LINE}/review", review.LineReviewApi.as_view(), name="line-review"),
    # training and models
    path(f"{PROJECT}/training-runs", training.TrainingRunListApi.as_view(), name="training-run-list"),
    path(f"{PROJECT}/models", training.ModelVersionListApi.as_view(), name="model-version-list"),
    path("api/training-runs/<id:run_id>", training.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("api/training-runs/<id:run_id>/cancel", training.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
    # the browser UI (frontend/): one HTML shell for every page
    path("", views.app_shell, name="ui-home"),
    path("login", views.app_shell, name="ui-login"),
    path("account", views.app_shell, name="ui-account"),
    path("projects/new", views.app_shell, name="ui-project-new"),
    path("invite/<token:token>", views.app_shell, name="ui-invite"),
    path("password-reset", views.app_shell, name="ui-password-reset"),
    re_path(
        r"^password-reset/(?P<uid>[A-Za-z0-9_-]{1,64})/(?P<token>[A-Za-z0-9-]{1,128})$",
        views.app_shell,
        name="ui-password-reset-confirm",
    ),
    re_path(
        r"^projects/(?P<project_id>[0-9]+)/(?P<page>label|review|models|import|documents|search|stats|exports|team)$",
        views.app_shell,
        name="ui-project",
    ),
    re_path(r"^projects/(?P<project_id>[0-9]+)/pages/(?P<page_id>[0-9]{1,18})$", views.app_shell, name="ui-page-view"),
    re_path(r"^projects/(?P<project_id>[0-9]+)/lines/(?P<line_id>[0-9]{1,18})$", views.app_shell, name="ui-line"),
]
