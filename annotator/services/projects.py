"""Writes to a project's own settings (project admins only)."""

from __future__ import annotations

from typing import TypedDict

from django.core.exceptions import ValidationError
from django.db import transaction

from annotator.enqueue import PREDICTIONS_REFRESH, task_send_on_commit
from annotator.errors import InvalidInputError
from annotator.models import Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require
from annotator.selectors import project_active_model
from recognition.selection import STRATEGIES


class ProjectSettings(TypedDict, total=False):
    """The settings an admin may change from the API; every key is optional."""

    selection_strategy: str
    retrain_threshold: int
    top_window: int
    lease_seconds: int
    require_review: bool
    review_confidence: float
    dispute_cer: float
    auto_accept: bool
    auto_accept_max_error: float
    train_on_model_accepted: bool
    model_accepted_weight: float


EDITABLE_SETTINGS: tuple[str, ...] = tuple(ProjectSettings.__annotations__)
# A change to one of these changes what a re-scoring batch writes (the queue
# priority, or which lines are model-accepted), so the active model re-scores.
_RESCORE_ON = frozenset({"selection_strategy", "auto_accept"})


def project_settings_update(*, project: Project, user: AnyUser, changes: ProjectSettings) -> Project:
    """Apply ``changes`` to ``project`` after the model's own validators pass.

    Only the changed columns are written, under a row lock: two admins editing
    different settings at once both keep their change (a whole-row save would
    let the later one put back the other's old value). A new strategy or
    auto-accept switch re-scores the unverified lines under the active model,
    so the queue follows it batch by batch.
    """
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    unknown = sorted(set(changes) - set(EDITABLE_SETTINGS))
    if unknown:
        raise InvalidInputError(f"These settings cannot be changed here: {', '.join(unknown)}.")
    strategy = changes.get("selection_strategy")
    if strategy is not None and strategy not in STRATEGIES:
        message = f"Unknown selection strategy {strategy!r}; use one of {', '.join(STRATEGIES)}."
        raise InvalidInputError(message, fields={"selection_strategy": [message]})
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        changed = [name for name, value in changes.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, changes[name])  # type: ignore[literal-required]
        try:
            locked.full_clean(exclude=[f.name for f in Project._meta.fields if f.name not in changed])
        except ValidationError as exc:
            fields: dict[str, list[str]] = {
                name: [str(m) for m in messages] for name, messages in exc.message_dict.items()
            }
            raise InvalidInputError(
                " ".join(m for messages in fields.values() for m in messages), fields=fields
            ) from exc
        if changed:
            locked.save(update_fields=changed)
        active = project_active_model(project=locked)
        if active is not None and _RESCORE_ON & set(changed):
            task_send_on_commit(PREDICTIONS_REFRESH, active.pk)
    return locked
