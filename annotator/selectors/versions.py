"""A project's model versions, as the other selectors read them."""

from __future__ import annotations

from annotator.models import ModelVersion, Project


def project_active_model(*, project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).first()
