from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authtoken.views import obtain_auth_token

from annotator import apis

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/auth/token", obtain_auth_token, name="auth-token"),
    path("api/projects", apis.ProjectListApi.as_view(), name="project-list"),
    path("api/projects/<int:project_id>", apis.ProjectDetailApi.as_view(), name="project-detail"),
    path("api/projects/<int:project_id>/queue/next", apis.QueueNextApi.as_view(), name="queue-next"),
    path("api/projects/<int:project_id>/queue/previous", apis.QueuePreviousApi.as_view(), name="queue-previous"),
    path("api/projects/<int:project_id>/training-runs", apis.TrainingRunListApi.as_view(), name="training-run-list"),
    path("api/projects/<int:project_id>/models", apis.ModelVersionListApi.as_view(), name="model-version-list"),
    path("api/training-runs/<int:run_id>", apis.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("api/training-runs/<int:run_id>/cancel", apis.TrainingRunCancelApi.as_view(), name="training-run-cancel"),
    path("api/lines/<int:line_id>/heartbeat", apis.LineHeartbeatApi.as_view(), name="line-heartbeat"),
    path("api/lines/<int:line_id>/skip", apis.LineSkipApi.as_view(), name="line-skip"),
    path("api/lines/<int:line_id>/submit", apis.LineSubmitApi.as_view(), name="line-submit"),
    path("api/lines/<int:line_id>/draft", apis.LineDraftApi.as_view(), name="line-draft"),
    path("api/lines/<int:line_id>/image", apis.LineImageApi.as_view(), name="line-image"),
]
