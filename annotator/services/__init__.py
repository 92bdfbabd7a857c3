"""Writes. ``labeling``: lines, the queue and labels (the web process);
``training``: training runs, model versions and re-scoring (mostly the workers)."""

from annotator.services.exports import export_job_create, export_job_run
from annotator.services.imports import import_job_create, import_job_run, import_jobs_recover_stale
from annotator.services.labeling import (
    MAX_TEXT_LENGTH,
    draft_save,
    label_submit,
    lease_heartbeat,
    lease_release,
    line_claim,
    line_create,
    line_disagreement_refresh,
    line_sample_key,
    line_uncertainty_refresh,
    transcription_text_clean,
)
from annotator.services.projects import EDITABLE_SETTINGS, ProjectSettings, project_settings_update
from annotator.services.review import line_review
from annotator.services.schedules import training_schedule_set
from annotator.services.scoring import lines_auto_accept, prediction_batch_store, predictions_refresh
from annotator.services.training import (
    TrainingError,
    model_version_promote,
    training_run_cancel,
    training_run_execute,
    training_run_recover_stale,
    training_run_request,
    training_run_request_if_due,
)

__all__ = [
    "EDITABLE_SETTINGS",
    "MAX_TEXT_LENGTH",
    "ProjectSettings",
    "TrainingError",
    "draft_save",
    "export_job_create",
    "export_job_run",
    "import_job_create",
    "import_job_run",
    "import_jobs_recover_stale",
    "label_submit",
    "lease_heartbeat",
    "lease_release",
    "line_claim",
    "line_create",
    "line_disagreement_refresh",
    "line_review",
    "line_sample_key",
    "line_uncertainty_refresh",
    "lines_auto_accept",
    "model_version_promote",
    "prediction_batch_store",
    "predictions_refresh",
    "project_settings_update",
    "training_run_cancel",
    "training_run_execute",
    "training_run_recover_stale",
    "training_run_request",
    "training_run_request_if_due",
    "training_schedule_set",
    "transcription_text_clean",
]
