from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authtoken.views import obtain_auth_token

from annotator.apis import labeling, projects, training

PROJECT = "api/projects/<int:project_id>"
LINE = "api/lines/<int:line_id>"

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
    # training and models
    path(f"{PROJECT}/training-runs", training.TrainingRunListApi.as_view(), name="training-run-list"),
    path(f"{PROJECT}/models", training.ModelVersionListApi.as_view(), name="model-version-list"),
    path("api/training-runs/<int:run_id>", training.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("api/training-runs/<int:run_id>/cancel", training.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
]
