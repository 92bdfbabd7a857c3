"""The page view: a page's lines with their outlines, states and texts, and the
fixes to its cut (split, merge, delete, draw, reading order) through the API,
for reviewers and admins only, never under a labeler's lease, never losing a
person's text. (The role walk over every route: test_api.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks
from rest_framework.test import APIClient

from annotator.enqueue import PREDICTION_BATCH_STORE
from annotator.models import Document, Line, Membership, Page, Prediction, Project, Transcription
from annotator.services import label_submit, line_claim
from tests.annotator.conftest import Enqueued
from tests.annotator.factories import client_id, make_member, make_project, score_lines

pytestmark = pytest.mark.django_db

WIDTH, HEIGHT = 600, 200
# Two lines of "ink": (x0, y0, x1, y1) on the page.
BOXES = [(20, 20, 580, 60), (20, 100, 580, 140)]


def make_page(project: Project) -> Page:
    """A stored page image with two dark bands, and the two lines cut around them."""
    image = np.full((HEIGHT, WIDTH), 255, dtype=np.uint8)
    for x0, y0, x1, y1 in BOXES:
        image[y0 + 10 : y1 - 10, x0 + 10 : x1 - 10] = 30
    name = f"pages/{project.pk}-page.png"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    document = Document.objects.create(project=project, name=f"doc of {project.pk}")
    page = Page.objects.create(document=document, number=1, image=name, width=WIDTH, height=HEIGHT)
    for order, (x0, y0, x1, y1) in enumerate(BOXES):
        crop = f"lines/{project.pk}-{order}.png"
        (Path(settings.MEDIA_ROOT) / crop).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(Path(settings.MEDIA_ROOT) / crop), image[y0:y1, x0:x1])
        Line.objects.create(
            project=project,
            page=page,
            document=document,
            key=f"page/{order}",
            crop=crop,
            width=x1 - x0,
            height=y1 - y0,
            polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
            bbox=[x0, y0, x1, y1],
            baseline=[[x0, y1 - 8], [x1, y1 - 8]],
            reading_order=order,
            split="train",
            sample_key=0.5,
        )
    return page


@pytest.fixture
def world(media_root: Path) -> tuple[Page, User]:
    project = make_project()
    return make_page(project), make_member(project, role=Membership.Role.REVIEWER)


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_lines(page: Page) -> list[Line]:
    return list(Line.objects.filter(page=page).order_by("reading_order"))


def test_the_page_shows_every_line_with_its_outline_state_and_text(world: tuple[Page, User]) -> None:
    page, reviewer = world
    first, second = page_lines(page)
    score_lines([first, second], [0.3, 0.4])
    label_submit(line=first, user=reviewer, text="the first line", client_id=client_id())

    body = as_user(reviewer).get(reverse("page-detail", args=[page.pk])).json()

    assert (body["width"], body["height"]) == (WIDTH, HEIGHT)
    assert [line["id"] for line in body["lines"]] == [first.pk, second.pk]
    shown = body["lines"]
    assert (shown[0]["state"], shown[0]["text"], shown[0]["human"]) == ("labeled", "the first line", True)
    assert (shown[1]["state"], shown[1]["text"], shown[1]["human"]) == ("unlabeled", f"guess {second.pk}", False)
    assert shown[0]["polygon"] == [[20, 20], [580, 20], [580, 60], [20, 60]]
    assert shown[0]["baseline"] == [[20, 52], [580, 52]]
    assert as_user(reviewer).get(body["image_url"]).status_code == 200


def test_splitting_a_line_cuts_two_new_crops_keeps_the_text_as_history_and_sends_both_to_the_model(
    world: tuple[Page, User], enqueued: Enqueued, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    page, reviewer = world
    first, second = page_lines(page)
    model = score_lines([first, second], [0.3, 0.4])
    label_submit(line=first, user=reviewer, text="two words", client_id=client_id())

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(reviewer).post(reverse("line-split", args=[first.pk]), {"x": 300}, format="json")

    assert response.status_code == 200, response.json()
    left, right, last = page_lines(page)
    assert (left.pk, last.pk) == (first.pk, second.pk)
    assert [line["id"] for line in response.json()["lines"]] == [left.pk, right.pk, last.pk]
    assert (left.bbox, right.bbox) == ([20, 20, 301, 61], [300, 20, 581, 61])
    assert (left.width, right.width) == (281, 281)
    assert left.baseline == [[20, 52], [300, 52]]
    assert right.baseline == [[300, 52], [580, 52]]
    for part in (left, right):
        assert (Path(settings.MEDIA_ROOT) / str(part.crop.name)).exists()
        assert (part.queue_state, part.current_transcription_id) == ("unlabeled", None)
    assert left.crop.name != first.crop.name
    assert list(Transcription.objects.filter(line=left).values_list("text", flat=True)) == ["two words"]
    assert not Prediction.objects.filter(line=left).exists()
    assert (PREDICTION_BATCH_STORE, (model.pk, [left.pk, right.pk])) in enqueued


def test_merging_two_lines_keeps_both_texts_in_the_merged_lines_history(
    world: tuple[Page, User], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    page, reviewer = world
    first, second = page_lines(page)
    label_submit(line=first, user=reviewer, text="upper", client_id=client_id())
    label_submit(line=second, user=reviewer, text="lower", client_id=client_id())

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(reviewer).post(reverse("line-merge", args=[second.pk]), {"ids": [first.pk]}, format="json")

    assert response.status_code == 200, response.json()
    (merged,) = page_lines(page)
    assert merged.pk == first.pk
    assert merged.bbox == [20, 20, 581, 141]
    assert (merged.height, merged.width) == (121, 561)
    assert sorted(Transcription.objects.filter(line=merged).values_list("text", flat=True)) == ["lower", "upper"]
    assert merged.queue_state == "unlabeled"
    assert not Line.objects.filter(pk=second.pk).exists()


def test_a_line_without_a_persons_text_is_deleted_and_one_with_it_is_refused(world: tuple[Page, User]) -> None:
    page, reviewer = world
    first, second = page_lines(page)
    label_submit(line=first, user=reviewer, text="typed", client_id=client_id())
    client = as_user(reviewer)

    refused = client.delete(reverse("line-detail", args=[first.pk]))
    deleted = client.delete(reverse("line-detail", args=[second.pk]))

    assert refused.status_code == 409
    assert "flag" in refused.json()["error"]["message"]
    assert deleted.status_code == 200
    assert page_lines(page) == [first]
    assert Transcription.objects.get(line=first).text == "typed"


def test_the_old_crops_of_split_merged_and_deleted_lines_are_removed_after_the_commit(
    world: tuple[Page, User], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    page, reviewer = world
    first, _second = page_lines(page)
    client = as_user(reviewer)

    def stored(line: Line) -> Path:
        return Path(settings.MEDIA_ROOT) / str(line.crop.name)

    old_first = stored(first)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("line-split", args=[first.pk]), {"x": 300}, format="json").status_code == 200
    left, right, last = page_lines(page)
    assert not old_first.exists()
    assert stored(left).exists()
    assert stored(right).exists()
    assert stored(last).exists()

    old_left, old_right = stored(left), stored(right)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("line-merge", args=[left.pk]), {"ids": [right.pk]}, format="json").status_code == 200
    merged, kept = page_lines(page)
    assert not old_left.exists()
    assert not old_right.exists()
    assert stored(merged).exists()
    assert stored(kept).exists()

    old_kept = stored(kept)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(reverse("line-detail", args=[kept.pk])).status_code == 200
    assert not old_kept.exists()
    assert stored(merged).exists()


def test_a_refused_change_keeps_the_old_crop(
    world: tuple[Page, User], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    page, reviewer = world
    first, _second = page_lines(page)
    label_submit(line=first, user=reviewer, text="typed", client_id=client_id())

    with django_capture_on_commit_callbacks(execute=True):
        refused = as_user(reviewer).delete(reverse("line-detail", args=[first.pk]))

    assert refused.status_code == 409
    assert (Path(settings.MEDIA_ROOT) / str(first.crop.name)).exists()


def test_a_drawn_box_becomes_a_line_placed_in_reading_order_by_its_height(
    world: tuple[Page, User], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    page, reviewer = world
    first, second = page_lines(page)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(reviewer).post(
            reverse("page-line-list", args=[page.pk]), {"box": [40, 70, 400, 95]}, format="json"
        )

    assert response.status_code == 201, response.json()
    top, drawn, bottom = page_lines(page)
    assert (top, bottom) == (first, second)
    assert drawn.bbox == [40, 70, 401, 96]
    assert (Path(settings.MEDIA_ROOT) / str(drawn.crop.name)).exists()
    assert drawn.queue_state == "unlabeled"


def test_the_reading_order_is_set_by_naming_every_line_once(world: tuple[Page, User]) -> None:
    page, reviewer = world
    first, second = page_lines(page)
    client = as_user(reviewer)
    url = reverse("page-reading-order", args=[page.pk])

    assert client.put(url, {"ids": [first.pk]}, format="json").status_code == 409
    response = client.put(url, {"ids": [second.pk, first.pk]}, format="json")

    assert response.status_code == 200
    assert page_lines(page) == [second, first]


def test_a_line_under_a_labelers_lease_is_not_changed_under_them(world: tuple[Page, User]) -> None:
    page, reviewer = world
    labeler = make_member(page.document.project)
    held = line_claim(project=page.document.project, user=labeler)
    assert held is not None
    other = next(line for line in page_lines(page) if line != held)
    client = as_user(reviewer)

    edits: list[Any] = [
        client.post(reverse("line-split", args=[held.pk]), {"x": 300}, format="json"),
        client.post(reverse("line-merge", args=[held.pk]), {"ids": [other.pk]}, format="json"),
        client.delete(reverse("line-detail", args=[held.pk])),
    ]

    assert [edit.status_code for edit in edits] == [409, 409, 409]
    assert "labeler" in edits[0].json()["error"]["message"]
    assert Line.objects.get(pk=held.pk).bbox == held.bbox
    assert len(page_lines(page)) == 2


def test_labelers_may_not_change_a_pages_cut(world: tuple[Page, User]) -> None:
    page, _reviewer = world
    first, second = page_lines(page)
    client = as_user(make_member(page.document.project))

    responses = [
        client.get(reverse("page-detail", args=[page.pk])),
        client.post(reverse("line-split", args=[first.pk]), {"x": 300}, format="json"),
        client.post(reverse("line-merge", args=[first.pk]), {"ids": [second.pk]}, format="json"),
        client.delete(reverse("line-detail", args=[first.pk])),
        client.put(reverse("page-reading-order", args=[page.pk]), {"ids": [second.pk, first.pk]}, format="json"),
        client.post(reverse("page-line-list", args=[page.pk]), {"box": [0, 0, 50, 50]}, format="json"),
    ]

    assert [response.status_code for response in responses] == [403] * 6
    assert page_lines(page) == [first, second]


def test_merging_lines_of_two_pages_is_refused(world: tuple[Page, User]) -> None:
    page, reviewer = world
    project = make_project()
    make_member(project, role=Membership.Role.REVIEWER, user=reviewer)
    elsewhere = page_lines(make_page(project))[0]

    response = as_user(reviewer).post(
        reverse("line-merge", args=[page_lines(page)[0].pk]), {"ids": [elsewhere.pk]}, format="json"
    )

    assert response.status_code == 400
    assert Line.objects.filter(pk=elsewhere.pk).exists()


def test_one_persons_drafts_on_merged_lines_become_one_draft_with_both_texts(world: tuple[Page, User]) -> None:
    page, reviewer = world
    first, second = page_lines(page)
    writer = make_member(page.document.project)
    for line, text in ((first, "upper"), (second, "lower")):
        Transcription.objects.create(line=line, author=writer, status=Transcription.Status.DRAFT, text=text)

    response = as_user(reviewer).post(reverse("line-merge", args=[first.pk]), {"ids": [second.pk]}, format="json")

    assert response.status_code == 200, response.json()
    assert list(Transcription.objects.values_list("line_id", "author_id", "status", "text")) == [
        (first.pk, writer.pk, "draft", "upper lower")
    ]
