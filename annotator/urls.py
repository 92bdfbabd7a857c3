from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authtoken.views import obtain_auth_token

from annotator.apis import labeling, projects, review, training

PROJECT = "api/projects/<int:project_id>"
LINE = "api/lines/<int:line_id>"

# IN PROGRESS (the lead, this session) - endpoints landing soon; the UI codes against them
# (code against this contract; it lands in the next ~60 minutes, check annotator/urls.py):
# - Queue prefetch: POST /api/projects/{id}/queue/next with optional JSON body {"exclude": [line ids you already
# hold]} leases a further line (at most 2 leases per labeler per project) so the client can fetch the next line
# while the current one is being typed. Without exclude: unchanged (returns the line you hold, or a new one).
# - Import (project admins): POST /api/projects/{id}/imports, multipart: one or more `file` fields (a zip, or
# page images PNG/JPEG/TIFF) and `kind` in {"auto", "pages", "xml", "lines"} (default auto) → 202 {id, project,
# kind, status: "queued"|"running"|"succeeded"|"failed", progress: {done, total}, report: {pages_created,
# lines_created, lines_with_text, rejected: [{name, reason}], warnings: [str]}, error, created_at, finished_at}.
# A file refused up front (corrupt, too big, unsafe zip) → 400 with a clear message and nothing saved. GET
# /api/imports/{id}; GET /api/projects/{id}/imports (recent jobs). The import runs as a Celery task.
# - Review (reviewers and admins): GET
# /api/projects/{id}/review?kind=low_confidence|disputed|model_accepted&limit=50&offset=0 → {count, items:
# [{line: {id, image_url, width, height}, reason, prediction: {...}|null, transcription: {id, text, status,
# author, source}|null, disagreement: float|null (CER between the human text and the model's)}]}; POST
# /api/lines/{id}/review {action: "approve"|"correct"|"reject", text (required for correct), client_id (uuid)} →
# the resulting transcription.
# - Export: POST /api/projects/{id}/exports {format: "page"|"alto"|"text"|"lines"|"model"} → 202 {id, format,
# status, progress, error, download_url|null, created_at, finished_at}; GET /api/exports/{id}; GET
# /api/exports/{id}/download (a zip).

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/auth/token", obtain_auth_token, name="auth-token"),
    # projects
    path("api/projects", projects.ProjectListApi.as_view(), name="project-list"),
    path(PROJECT, projects.ProjectDetailApi.as_view(), name="project-detail"),
    # the queue and lines
    path(f"{PROJECT}/queue/next", labeling.QueueNextApi.as_view(), name="queue-next"),
    path(f"{PROJECT}/queue/previous", labeling.QueuePreviousApi.as_view(), name="queue-previous"),
    path(f"{LINE}/heartbeat", labeling.LineHeartbeatApi.as_view(), name="line-heartbeat"),
    path(f"{LINE}/skip", labeling.LineSkipApi.as_view(), name="line-skip"),
    path(f"{LINE}/submit", labeling.LineSubmitApi.as_view(), name="line-submit"),
    path(f"{LINE}/draft", labeling.LineDraftApi.as_view(), name="line-draft"),
    path(f"{LINE}/image", labeling.LineImageApi.as_view(), name="line-image"),
    # review
    path(f"{PROJECT}/review", review.ReviewListApi.as_view(), name="review-list"),
    path(f"{LINE}/review", review.LineReviewApi.as_view(), name="line-review"),
    # training and models
    path(f"{PROJECT}/training-runs", training.TrainingRunListApi.as_view(), name="training-run-list"),
    path(f"{PROJECT}/models", training.ModelVersionListApi.as_view(), name="model-version-list"),
    path("api/training-runs/<int:run_id>", training.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("api/training-runs/<int:run_id>/cancel", training.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
]
