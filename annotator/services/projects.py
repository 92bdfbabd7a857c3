"""Projects: creating one (with its base model as version 1) and writes to its
own settings (project admins only).

A project starts from a shipped base model (``Project.base_model``, default
``settings.LINEPROOF_BASE_MODEL``): ``project_create`` copies the base's
checkpoint into the project's storage as model version 1, active, so the first
import is read and ranked before anyone labels, and the first training run
fine-tunes it. Only bytes are copied here (no PyTorch): the scoring and
training jobs load the file like any trained checkpoint. ``base_model=""``
starts from scratch (no model until the first run, of ``model_preset``).
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.errors import InvalidInputError
from annotator.models import Membership, ModelVersion, Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, project_create_require, user_pk
from annotator.selectors import base_model_card, project_active_model, project_has_trained_model
from annotator.services.labeling import line_priority_refresh
from annotator.services.segmentation import segmentation_method_check
from annotator.services.training import model_version_promote, model_version_rescore_request
from recognition.base import base_names, base_path
from recognition.selection import STRATEGIES


class ProjectSettings(TypedDict, total=False):
    """The settings an admin may change from the API; every key is optional."""

    selection_strategy: str
    retrain_threshold: int
    full_retrain_every: int
    top_window: int
    lease_seconds: int
    require_review: bool
    review_confidence: float
    dispute_cer: float
    auto_accept: bool
    auto_accept_max_error: float
    train_on_model_accepted: bool
    model_accepted_weight: float
    base_model: str
    reviewers_can_export: bool
    segmentation_method: str


MAX_LANGUAGES = 20
MAX_LANGUAGE_LENGTH = 64


def project_languages_clean(languages: list[str]) -> list[str]:
    """The languages as given, stripped, without blanks and repeats, bounded."""
    cleaned: list[str] = []
    for language in languages:
        text = str(language).strip()
        if text and text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_LANGUAGES or any(len(text) > MAX_LANGUAGE_LENGTH for text in cleaned):
        message = f"At most {MAX_LANGUAGES} languages of at most {MAX_LANGUAGE_LENGTH} characters each."
        raise InvalidInputError(message, fields={"languages": [message]})
    return cleaned


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
    if "base_model" in changes:
        base_model_check(changes["base_model"])
    if "segmentation_method" in changes:
        segmentation_method_check(changes["segmentation_method"])
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        changed = [name for name, value in changes.items() if getattr(locked, name) != value]
        if "base_model" in changed and project_has_trained_model(project=locked):
            message = "The base model can only change until a trained model has been promoted."
            raise InvalidInputError(message, fields={"base_model": [message]})
        for name in changed:
            setattr(locked, name, changes[name])  # type: ignore[literal-required]
        _full_clean(locked, only=changed)
        if changed:
            locked.save(update_fields=changed)
        if "base_model" in changed:
            _base_switch(locked)
        active = project_active_model(project=locked)
        if active is not None and _RESCORE_ON & set(changed):
            model_version_rescore_request(model_version=active)
    return locked


def _full_clean(project: Project, *, only: list[str] | None = None) -> None:
    """The model's validators (all, or the fields in ``only``) as an InvalidInputError."""
    exclude = None if only is None else [f.name for f in Project._meta.fields if f.name not in only]
    try:
        project.full_clean(exclude=exclude)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        raise InvalidInputError(" ".join(m for messages in fields.values() for m in messages), fields=fields) from exc


# --- creating a project, and its base model -----------------------------------


def base_model_check(name: str) -> str:
    """``name`` if it names a shipped base model (or is "": from scratch), else InvalidInputError."""
    if name and name not in base_names():
        shipped = ", ".join(base_names()) or "none"
        message = f"Unknown base model {name!r}; shipped: {shipped} (or empty: start from scratch)."
        raise InvalidInputError(message, fields={"base_model": [message]})
    return name


def project_create(
    *, name: str, base_model: str | None = None, creator: AnyUser | None = None, **fields: Any
) -> Project:
    """A new project (``fields``: any other Project column) that starts from
    ``base_model`` (default ``settings.LINEPROOF_BASE_MODEL``; "" for none):
    its model version 1 is that base, active (``model_version_base_create``).
    With ``creator`` (the app: whoever may create projects, the site setting
    ``LINEPROOF_PROJECT_CREATORS``), the creator becomes its admin. The one way
    the app, the demo command and the Django admin create projects."""
    if creator is not None:
        project_create_require(user=creator)
    base = base_model_check(settings.LINEPROOF_BASE_MODEL if base_model is None else base_model)
    if "languages" in fields:
        fields["languages"] = project_languages_clean(fields["languages"])
    with transaction.atomic():
        project = Project(name=name, base_model=base, **fields)
        if creator is not None:
            project.created_by_id = user_pk(creator)
        _full_clean(project)
        project.save()
        if creator is not None:
            Membership.objects.create(project=project, user_id=user_pk(creator), role=Membership.Role.ADMIN)
        model_version_base_create(project=project)
    return project


def model_version_base_create(*, project: Project) -> ModelVersion | None:
    """Make ``project.base_model`` the project's active model: its checkpoint
    file copied into the project's storage (where trained checkpoints live,
    under a name of its own), a ModelVersion that says it is that base
    (``base_name``; no parent, no training run, no metrics on this project's
    lines until a training run measures them), promoted through the service
    a trained model goes through, which re-scores the unverified lines.
    Nothing for a project without a base. Only bytes are copied: the base's
    own calibration stays in the file, where scoring reads it; auto-accept
    waits for a trained model, whose threshold is measured on the project's
    eval lines."""
    name = project.base_model
    if not name:
        return None
    base_model_check(name)
    source = base_path(name)
    with transaction.atomic():
        version = ModelVersion.objects.create(
            project=project, base_name=name, alphabet=_base_alphabet(name), status=ModelVersion.Status.CANDIDATE
        )
        with source.open("rb") as handle:
            stored = default_storage.save(f"models/{project.pk}/base-{version.pk}/{source.name}", File(handle))
        try:
            ModelVersion.objects.filter(pk=version.pk).update(checkpoint=stored)
            version.refresh_from_db()
            model_version_promote(model_version=version)
        except BaseException:
            default_storage.delete(stored)
            raise
    return version


def _base_alphabet(name: str) -> str:
    """The base's alphabet from its model card; "" when it has none."""
    alphabet = base_model_card(name=name).get("alphabet", "")
    return alphabet if isinstance(alphabet, str) else ""


def _base_switch(project: Project) -> None:
    """After ``project.base_model`` changed (only while no trained model was
    promoted): the new base becomes the active model, or, for "", the old base
    is retired and every line goes back to the unscored order."""
    if project.base_model:
        model_version_base_create(project=project)
        return
    ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).update(
        status=ModelVersion.Status.RETIRED
    )
    line_priority_refresh(project=project)
