"""Documents with per-page progress, one line's detail, and full-text search over
verified texts and model readings (PostgreSQL full text; test_sqlite.py runs the
search tests again on SQLite's substring fallback)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from annotator.models import Line, Membership, Project, Transcription
from annotator.services import label_submit, line_review
from tests.annotator.factories import make_document, make_lines, make_member, make_project, score_lines, verify

pytestmark = pytest.mark.django_db


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_documents_list_their_pages_with_lines_labeled_and_verified() -> None:
    project = make_project(require_review=True)
    first, second = make_document(project, pages=2)
    lines = make_lines(project, 3, page=first, prefix="a") + make_lines(project, 2, page=second, prefix="b")
    reviewer = make_member(project, Membership.Role.REVIEWER)
    labeler = make_member(project)
    verify(lines[:2], ["one", "two"], user=reviewer)
    Line.objects.filter(pk=lines[3].pk).update(lease_user=labeler, lease_expires_at="2999-01-01T00:00Z")
    label_submit(line=Line.objects.get(pk=lines[3].pk), user=labeler, text="four", client_id=uuid.uuid4())
    make_document(project)  # a document with a page and no lines yet

    response = as_user(labeler).get(f"/api/projects/{project.pk}/documents")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    document = body["documents"][0]
    assert (document["lines"], document["labeled"], document["verified"]) == (5, 3, 2)
    assert [(p["number"], p["lines"], p["labeled"], p["verified"]) for p in document["pages"]] == [
        (1, 3, 2, 2),
        (2, 2, 1, 0),
    ]
    assert body["documents"][1]["pages"][0]["lines"] == 0
    assert as_user(labeler).get(f"/api/projects/{project.pk}/documents", {"limit": 0}).status_code == 400


def searchable(project: Project) -> tuple[list[Line], User]:
    """Four lines: verified "The Kew Gardens", verified then rejected "kew again",
    a model reading "gardens of kew" and a reading "nothing here"."""
    lines = make_lines(project, 4)
    model = score_lines(lines, [0.1, 0.2, 0.3, 0.4])
    texts = ["The Kew Gardens", "x", "gardens of kew", "nothing here"]
    for line, text in zip(lines, texts, strict=True):
        model.predictions.filter(line=line).update(text=text)
    admin = make_member(project, Membership.Role.ADMIN)
    verify(lines[:2], ["The Kew Gardens", "kew again"], user=admin)
    line_review(line=Line.objects.get(pk=lines[1].pk), user=admin, action="reject", client_id=uuid.uuid4())
    return lines, admin


@pytest.mark.sqlite
def test_search_finds_a_word_in_verified_texts_and_model_readings_with_the_crop_and_a_link() -> None:
    project = make_project()
    lines, admin = searchable(project)
    labeler = make_member(project)

    response = as_user(labeler).get(f"/api/projects/{project.pk}/search", {"q": "KEW"})

    assert response.status_code == 200
    hits = response.json()["hits"]
    assert [(hit["line"]["id"], hit["text"], hit["source"]) for hit in hits] == [
        (lines[0].pk, "The Kew Gardens", "verified"),
        (lines[2].pk, "gardens of kew", "model"),
    ]
    assert hits[0]["line"]["image_url"].endswith(f"/api/lines/{lines[0].pk}/image")
    assert hits[0]["line"]["ui_url"] == f"/projects/{project.pk}/lines/{lines[0].pk}"
    both = as_user(labeler).get(f"/api/projects/{project.pk}/search", {"q": "gardens kew"}).json()["hits"]
    assert [hit["line"]["id"] for hit in both] == [lines[0].pk, lines[2].pk]
    assert as_user(admin).get(f"/api/projects/{project.pk}/search", {"q": "   "}).status_code == 400
    assert Transcription.objects.filter(text="kew again", status=Transcription.Status.REJECTED).exists()


def test_a_line_shows_where_it_is_its_text_and_the_models_reading() -> None:
    project = make_project()
    (page,) = make_document(project)
    (line,) = make_lines(project, 1, page=page)
    score_lines([line], [0.5])
    admin = make_member(project, Membership.Role.ADMIN)
    verify([line], ["kew"], user=admin)

    body = as_user(make_member(project)).get(f"/api/lines/{line.pk}").json()

    assert body["line"]["document"] == page.document.name
    assert body["line"]["page"] == 1
    assert body["transcription"]["text"] == "kew"
    assert body["source"] == "human"
    assert body["prediction"]["text"] == f"guess {line.pk}"
    assert as_user(make_member(make_project())).get(f"/api/lines/{line.pk}").status_code == 404
