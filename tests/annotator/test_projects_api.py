"""Projects in the app: creating one (who may, the creator as its admin, the
base model as version 1), what it is (languages, script, guidelines), archiving
and deleting it with its files."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from annotator.models import ExportJob, ImportJob, Line, Membership, ModelVersion, Page, Project
from annotator.selectors import training_schedule_name
from annotator.services import project_create, project_files, training_schedule_set
from tests.annotator.factories import make_document, make_member, make_project, make_rendered_lines, make_user

pytestmark = pytest.mark.django_db


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


NEW_PROJECT = {
    "name": "Peraire letters",
    "description": "Letters of a French naturalist",
    "languages": ["French", " Latin ", "French", ""],
    "script": "latin",
    "guidelines": "# Rules\n\nKeep **long s** as ſ.",
    "base_model": "",
}


def test_any_user_creates_a_project_and_becomes_its_admin() -> None:
    lead = make_user()
    client = as_user(lead)

    response = client.post(reverse("project-list"), NEW_PROJECT, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["role"] == "admin"
    assert body["languages"] == ["French", "Latin"]
    assert body["script"] == "latin"
    assert body["guidelines"] == NEW_PROJECT["guidelines"]
    project = Project.objects.get(pk=body["id"])
    assert project.created_by == lead
    assert Membership.objects.get(project=project).user == lead
    assert [listed["id"] for listed in client.get(reverse("project-list")).json()] == [project.pk]


def test_a_new_project_starts_from_the_base_model_with_default_machine_learning_settings(media_root: Path) -> None:
    client = as_user(make_user())

    body = client.post(reverse("project-list"), {"name": "From the base"}, format="json").json()

    project = Project.objects.get(pk=body["id"])
    assert project.base_model == "latin-cpu"
    assert body["active_model"]["base_name"] == "latin-cpu"
    assert project.retrain_threshold == Project._meta.get_field("retrain_threshold").default
    assert (media_root / ModelVersion.objects.get(project=project).checkpoint).exists()


def test_only_staff_create_projects_when_the_site_says_so(settings: Settings) -> None:
    settings.LINEPROOF_PROJECT_CREATORS = "staff"
    user = make_user()
    staff = make_user()
    staff.is_staff = True
    staff.save()

    refused = as_user(user).post(reverse("project-list"), NEW_PROJECT, format="json")
    allowed = as_user(staff).post(reverse("project-list"), NEW_PROJECT, format="json")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert allowed.status_code == 201
    assert as_user(user).get(reverse("me")).json()["can_create_projects"] is False
    assert as_user(staff).get(reverse("me")).json()["can_create_projects"] is True
    assert Project.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"script": "klingon"}, "script"),
        ({"base_model": "no-such-base"}, "base_model"),
        ({"languages": ["x" * 65]}, "languages"),
    ],
)
def test_a_bad_new_project_is_a_400_naming_the_field(change: dict[str, object], field: str) -> None:
    response = as_user(make_user()).post(reverse("project-list"), {**NEW_PROJECT, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Project.objects.exists()


def test_a_taken_name_is_a_400() -> None:
    make_project(name="Peraire letters")
    response = as_user(make_user()).post(reverse("project-list"), NEW_PROJECT, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_admins_change_what_the_project_is_and_others_may_not() -> None:
    project = make_project()
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    reviewer = as_user(make_member(project, role=Membership.Role.REVIEWER))
    url = reverse("project-detail", args=[project.pk])

    changed = admin.patch(url, {"guidelines": "Expand *abbreviations*.", "languages": ["German"]}, format="json")
    refused = reviewer.patch(url, {"guidelines": "mine"}, format="json")

    assert changed.status_code == 200
    assert changed.json()["guidelines"] == "Expand *abbreviations*."
    assert reviewer.get(url).json()["languages"] == ["German"]  # every member reads them
    assert refused.status_code == 403
    assert Project.objects.get(pk=project.pk).guidelines == "Expand *abbreviations*."


def test_an_archived_project_leaves_the_lists_and_comes_back() -> None:
    project = make_project(name="Old letters")
    other = make_project(name="New letters")
    admin = make_member(project, role=Membership.Role.ADMIN)
    make_member(other, role=Membership.Role.LABELER, user=admin)
    client = as_user(admin)
    url = reverse("project-detail", args=[project.pk])

    assert client.patch(url, {"archived": True}, format="json").json()["archived"] is True

    assert [p["id"] for p in client.get(reverse("project-list")).json()] == [other.pk]
    assert [p["id"] for p in client.get(reverse("me")).json()["projects"]] == [other.pk]
    assert [p["id"] for p in client.get(reverse("project-list"), {"archived": "true"}).json()] == [project.pk]
    assert client.get(url).status_code == 200  # its admin can still open it, to bring it back
    client.patch(url, {"archived": False}, format="json")
    assert [p["id"] for p in client.get(reverse("project-list")).json()] == [other.pk, project.pk]


def test_labelers_cannot_archive() -> None:
    project = make_project()
    response = as_user(make_member(project)).patch(
        reverse("project-detail", args=[project.pk]), {"archived": True}, format="json"
    )
    assert response.status_code == 403
    assert Project.objects.get(pk=project.pk).archived_at is None


def a_project_with_files(media_root: Path) -> Project:
    """A project with rows naming files in every place a project keeps them."""
    project = project_create(name="Doomed", base_model="latin-cpu")
    make_rendered_lines(project, ["one line", "two lines"])
    (page,) = make_document(project)
    for name in ("pages/doomed.png", "exports/doomed.zip", "imports/doomed/upload.zip"):
        (media_root / name).parent.mkdir(parents=True, exist_ok=True)
        (media_root / name).write_bytes(b"x")
    Page.objects.filter(pk=page.pk).update(image="pages/doomed.png")
    ExportJob.objects.create(project=project, format="text", file="exports/doomed.zip")
    ImportJob.objects.create(project=project, files=["imports/doomed/upload.zip"])
    return project


def test_deleting_a_project_removes_its_rows_and_files_after_the_commit(
    media_root: Path, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = a_project_with_files(media_root)
    keeper = make_project(name="Keeper")
    kept = make_rendered_lines(keeper, ["kept line"], prefix="k")
    admin = make_member(project, role=Membership.Role.ADMIN)
    training_schedule_set(project=project, user=admin, every_minutes=60, enabled=True)
    files = project_files(project=project)
    assert len(files) == 6  # two crops, a page, the base model, an export, an upload
    assert all((media_root / name).exists() for name in files)
    url = reverse("project-detail", args=[project.pk])

    refused = as_user(admin).delete(url, {"confirm": "doomed"}, format="json")
    assert refused.status_code == 400
    assert Project.objects.filter(pk=project.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(admin).delete(url, {"confirm": "Doomed"}, format="json")

    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Line.objects.filter(project_id=project.pk).exists()
    assert not ModelVersion.objects.filter(project_id=project.pk).exists()
    assert not PeriodicTask.objects.filter(name=training_schedule_name(project=project)).exists()
    assert [name for name in files if (media_root / name).exists()] == []
    assert (media_root / str(kept[0].crop.name)).exists()


def test_a_delete_that_rolls_back_keeps_the_files(media_root: Path) -> None:
    project = a_project_with_files(media_root)
    admin = make_member(project, role=Membership.Role.ADMIN)
    files = project_files(project=project)
    # The test's transaction never commits: the rows are gone in it, the files stay.
    response = as_user(admin).delete(reverse("project-detail", args=[project.pk]), {"confirm": "Doomed"}, format="json")
    assert response.status_code == 204
    assert all((media_root / name).exists() for name in files)


def test_only_admins_delete() -> None:
    project = make_project(name="Kept")
    for role in (Membership.Role.LABELER, Membership.Role.REVIEWER):
        response = as_user(make_member(project, role=role)).delete(
            reverse("project-detail", args=[project.pk]), {"confirm": "Kept"}, format="json"
        )
        assert response.status_code == 403, role
    assert Project.objects.filter(pk=project.pk).exists()
