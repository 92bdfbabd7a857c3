"""Writes the web process makes (and the jobs reuse): creating and claiming
lines, labels, review, project settings and schedules, requesting imports,
exports and training runs, cancelling and promoting. Torch-free, and nothing
here imports ``annotator.tasks``: work for the workers is sent by task name
(``annotator.enqueue``). What the workers run is ``annotator.jobs``."""

from annotator.services.accounts import login_failure_record, login_success_record, login_throttle_check
from annotator.services.alphabet import AlphabetGroup, alphabet_groups_clean, project_alphabet_update, text_modernise
from annotator.services.exports import export_job_create
from annotator.services.flags import FLAG_DECISIONS, MAX_FLAG_COMMENT, line_flag, line_flag_decide
from annotator.services.imports import import_job_create
from annotator.services.labeling import (
    MAX_LEASES_PER_LABELER,
    MAX_TEXT_LENGTH,
    draft_save,
    label_submit,
    lease_heartbeat,
    lease_release,
    leases_return,
    line_claim,
    line_create,
    line_disagreement_refresh,
    line_priority_refresh,
    line_sample_key,
    transcription_text_clean,
)
from annotator.services.lifecycle import (
    ProjectAbout,
    project_about_update,
    project_archive_set,
    project_delete,
    project_files,
)
from annotator.services.members import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_add,
    membership_remove,
    membership_role_set,
)
from annotator.services.pages import (
    line_create_drawn,
    line_delete,
    line_split,
    lines_merge,
    page_reading_order_set,
)
from annotator.services.passwords import password_change, password_reset_confirm, password_reset_request
from annotator.services.projects import (
    EDITABLE_SETTINGS,
    ProjectSettings,
    base_model_check,
    model_version_base_create,
    project_create,
    project_languages_clean,
    project_settings_update,
)
from annotator.services.review import line_review
from annotator.services.schedules import training_schedule_set
from annotator.services.segmentation import SEGMENT_SETTINGS, resegment_job_create, segment_config_clean
from annotator.services.training import (
    TrainingError,
    model_version_promote,
    model_version_rescore_request,
    training_run_cancel,
    training_run_kind_choose,
    training_run_request,
    training_run_request_if_due,
    training_run_retry,
)

__all__ = [
    "EDITABLE_SETTINGS",
    "FLAG_DECISIONS",
    "MAX_FLAG_COMMENT",
    "MAX_LEASES_PER_LABELER",
    "MAX_TEXT_LENGTH",
    "SEGMENT_SETTINGS",
    "AlphabetGroup",
    "ProjectAbout",
    "ProjectSettings",
    "TrainingError",
    "alphabet_groups_clean",
    "base_model_check",
    "draft_save",
    "export_job_create",
    "import_job_create",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "label_submit",
    "lease_heartbeat",
    "lease_release",
    "leases_return",
    "line_claim",
    "line_create",
    "line_create_drawn",
    "line_delete",
    "line_disagreement_refresh",
    "line_flag",
    "line_flag_decide",
    "line_priority_refresh",
    "line_review",
    "line_sample_key",
    "line_split",
    "lines_merge",
    "login_failure_record",
    "login_success_record",
    "login_throttle_check",
    "membership_add",
    "membership_remove",
    "membership_role_set",
    "model_version_base_create",
    "model_version_promote",
    "model_version_rescore_request",
    "page_reading_order_set",
    "password_change",
    "password_reset_confirm",
    "password_reset_request",
    "project_about_update",
    "project_alphabet_update",
    "project_archive_set",
    "project_create",
    "project_delete",
    "project_files",
    "project_languages_clean",
    "project_settings_update",
    "resegment_job_create",
    "segment_config_clean",
    "text_modernise",
    "training_run_cancel",
    "training_run_kind_choose",
    "training_run_request",
    "training_run_request_if_due",
    "training_run_retry",
    "training_schedule_set",
    "transcription_text_clean",
]
