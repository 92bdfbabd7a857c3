"""Re-segmenting a page or a document with other settings: new lines replace
those nobody typed on; a person's text stays on the new line over its old one,
or its line stays; never under a labeler's lease."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from annotator.enqueue import RESEGMENT_JOB_RUN
from annotator.errors import InvalidInputError
from annotator.jobs.segmentation import box_overlap, page_resegment, resegment_job_run
from annotator.models import Document, Line, Membership, Page, Project, ResegmentJob, Transcription
from annotator.services import label_submit, line_claim, line_create, resegment_job_create
from annotator.services.segmentation import SEGMENT_SETTINGS, segment_config_clean, segment_defaults
from recognition.pages import SegmentConfig
from tests.annotator.conftest import Enqueued
from tests.annotator.factories import client_id, make_member, make_project
from tests.annotator.test_imports import TEXTS, page_with_lines

pytestmark = pytest.mark.django_db


def segmented_page(project: Project, *, pages: int = 1) -> list[Page]:
    """Pages of rendered TEXTS, cut into lines by the segmenter with its defaults."""
    image, _boxes = page_with_lines(TEXTS)
    document = Document.objects.create(project=project, name=f"doc of {project.pk}")
    made = []
    for number in range(1, pages + 1):
        name = f"pages/{project.pk}-{number}.png"
        (Path(settings.MEDIA_ROOT) / "pages").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(Path(settings.MEDIA_ROOT) / name), image)
        page = Page.objects.create(
            document=document, number=number, image=name, width=image.shape[1], height=image.shape[0]
        )
        page_resegment(page=page, config=SegmentConfig())
        made.append(page)
    return made


@pytest.fixture
def world(media_root: Path) -> tuple[Page, User]:
    project = make_project()
    (page,) = segmented_page(project)
    return page, make_member(project, role=Membership.Role.REVIEWER)


def lines_of(page: Page) -> list[Line]:
    return list(Line.objects.filter(page=page).select_related("current_transcription").order_by("reading_order"))


def test_boxes_overlap_by_iou_and_by_containment() -> None:
    assert box_overlap([0, 0, 10, 10], [0, 0, 10, 10]) == (1.0, 1.0)
    assert box_overlap([0, 0, 10, 10], [20, 20, 30, 30]) == (0.0, 0.0)
    iou, contained = box_overlap([0, 0, 100, 10], [10, 2, 40, 8])
    assert iou == pytest.approx(180 / 1000)
    assert contained == 1.0


def test_new_lines_replace_untyped_ones_and_a_verified_text_stays_on_the_line_over_it(
    world: tuple[Page, User],
) -> None:
    page, reviewer = world
    before = lines_of(page)
    assert len(before) == len(TEXTS)
    verified = before[1]
    label_submit(line=verified, user=reviewer, text=TEXTS[1], client_id=client_id())

    report = page_resegment(page=page, config=SegmentConfig(padding=10))

    after = lines_of(page)
    assert report == {
        "page": page.pk,
        "lines_before": 4,
        "lines_after": 4,
        "texts_kept": 1,
        "lines_kept": 0,
        "skipped": "",
    }
    assert [line.pk for line in after].count(verified.pk) == 1
    assert after[1].pk == verified.pk
    assert after[1].current_transcription is not None
    assert after[1].current_transcription.text == TEXTS[1]
    assert after[1].crop.name != verified.crop.name
    assert after[1].height > verified.height  # the new padding
    assert not {line.pk for line in before if line != verified} & {line.pk for line in after}
    assert [line.reading_order for line in after] == [0, 1, 2, 3]


def typed_stray_line(page: Page, reviewer: User) -> Line:
    """A line in the top right corner, where the segmenter finds none, with a person's text."""
    stray = line_create(
        project=page.document.project,
        page=page,
        key="stray",
        crop="lines/stray.png",
        width=40,
        height=20,
        bbox=[850, 5, 890, 25],
        polygon=[[850, 5], [890, 5], [890, 25], [850, 25]],
        reading_order=9,
    )
    label_submit(line=stray, user=reviewer, text="marginal note", client_id=client_id())
    return stray


def test_a_typed_line_no_new_line_covers_is_kept_in_reading_order(world: tuple[Page, User]) -> None:
    page, reviewer = world
    stray = typed_stray_line(page, reviewer)

    report = page_resegment(page=page, config=SegmentConfig())

    after = lines_of(page)
    assert (report["lines_kept"], report["lines_after"]) == (1, 5)
    assert stray in after
    assert Transcription.objects.get(line=stray).text == "marginal note"
    assert [line.reading_order for line in after] == [0, 1, 2, 3, 4]


def test_re_segmenting_removes_the_replaced_crops_after_the_commit_and_keeps_the_ones_in_use(
    world: tuple[Page, User], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    page, reviewer = world
    stray_crop = Path(settings.MEDIA_ROOT) / "lines" / "stray.png"
    cv2.imwrite(str(stray_crop), np.full((20, 40), 255, dtype=np.uint8))
    stray = typed_stray_line(page, reviewer)
    before = [Path(settings.MEDIA_ROOT) / str(line.crop.name) for line in lines_of(page) if line != stray]
    assert before
    assert all(path.exists() for path in before)

    with django_capture_on_commit_callbacks(execute=True):
        page_resegment(page=page, config=SegmentConfig(padding=10))

    assert not any(path.exists() for path in before)
    assert stray_crop.exists()  # the kept line still shows it
    for line in lines_of(page):
        assert (Path(settings.MEDIA_ROOT) / str(line.crop.name)).exists()


def test_a_page_with_a_line_under_a_labelers_lease_is_left_as_it_is(world: tuple[Page, User]) -> None:
    page, _reviewer = world
    before = lines_of(page)
    assert line_claim(project=page.document.project, user=make_member(page.document.project)) is not None

    report = page_resegment(page=page, config=SegmentConfig(padding=10))

    assert "labeler" in report["skipped"]
    assert lines_of(page) == before


def test_a_document_is_resegmented_over_the_api_by_reviewers_only(
    media_root: Path,
    enqueued: Enqueued,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    run_enqueued: Callable[[], list[str]],
) -> None:
    project = make_project()
    first, second = segmented_page(project, pages=2)
    reviewer, labeler = APIClient(), APIClient()
    reviewer.force_authenticate(make_member(project, role=Membership.Role.REVIEWER))
    labeler.force_authenticate(make_member(project))
    url = reverse("document-resegment", args=[first.document_id])

    refused = labeler.post(url, {"settings": {"padding": 10}}, format="json")
    invalid = reviewer.post(url, {"settings": {"padding": -1, "no_such": 1}}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        queued = reviewer.post(url, {"settings": {"padding": 10, "deskew": True}}, format="json")

    assert refused.status_code == 403
    assert invalid.status_code == 400
    assert queued.status_code == 202, queued.json()
    assert queued.json()["settings"] == {"padding": 10}  # deskew is on by default
    assert enqueued == [(RESEGMENT_JOB_RUN, (queued.json()["id"],))]
    assert run_enqueued() == [RESEGMENT_JOB_RUN]
    job = ResegmentJob.objects.get()
    assert (job.status, job.progress) == ("succeeded", {"done": 2, "total": 2})
    assert [page["lines_after"] for page in job.report["pages"]] == [4, 4]
    shown = reviewer.get(reverse("resegment-job-detail", args=[job.pk])).json()
    assert (shown["status"], shown["report"]["pages"][1]["page"]) == ("succeeded", second.pk)
    assert labeler.get(reverse("resegment-job-detail", args=[job.pk])).status_code == 403
    assert resegment_job_run(job=job).status == "succeeded"  # a second delivery changes nothing
    assert Line.objects.filter(page=second).count() == 4


def test_asking_needs_one_page_or_one_document(world: tuple[Page, User]) -> None:
    page, reviewer = world
    with pytest.raises(InvalidInputError, match="one page or one document"):
        resegment_job_create(user=reviewer, config={}, page=page, document=page.document)


def test_every_re_segmentation_setting_is_one_of_the_segmenters_and_the_page_view_starts_at_its_defaults() -> None:
    fields = {field.name: field.default for field in dataclasses.fields(SegmentConfig)}
    assert set(SEGMENT_SETTINGS) <= set(fields)
    assert segment_defaults() == {name: fields[name] for name in SEGMENT_SETTINGS}
    # A form sent back at the defaults asks for no change.
    assert segment_config_clean(segment_defaults()) == {}


def test_admins_choose_the_projects_segmentation_method_and_kraken_is_refused_where_it_is_not_installed(
    settings: Settings, tmp_path: Path
) -> None:
    settings.LINEPROOF_KRAKEN_CLI = str(tmp_path / "no-kraken-here")
    project = make_project()
    admin, reviewer = APIClient(), APIClient()
    admin.force_authenticate(make_member(project, role=Membership.Role.ADMIN))
    reviewer.force_authenticate(make_member(project, role=Membership.Role.REVIEWER))
    url = reverse("project-settings", args=[project.pk])

    shown = admin.get(url).json()
    assert shown["segmentation_method"] == "classical"
    methods = {method["name"]: method["available"] for method in shown["segmentation_methods"]}
    assert methods == {"classical": True, "kraken": False}

    refused = admin.patch(url, {"segmentation_method": "kraken"}, format="json")
    unknown = admin.patch(url, {"segmentation_method": "ocropus"}, format="json")
    not_admin = reviewer.patch(url, {"segmentation_method": "classical"}, format="json")

    assert refused.status_code == 400
    assert "kraken is not installed" in refused.json()["error"]["message"]
    assert unknown.status_code == 400
    assert not_admin.status_code == 403
    project.refresh_from_db()
    assert project.segmentation_method == "classical"


def test_re_segmenting_with_kraken_where_it_is_not_installed_is_a_400_and_queues_nothing(
    world: tuple[Page, User], settings: Settings, tmp_path: Path
) -> None:
    settings.LINEPROOF_KRAKEN_CLI = str(tmp_path / "no-kraken-here")
    page, reviewer = world
    client = APIClient()
    client.force_authenticate(reviewer)

    refused = client.post(reverse("page-resegment", args=[page.pk]), {"method": "kraken"}, format="json")
    chosen = client.post(reverse("page-resegment", args=[page.pk]), {"method": "classical"}, format="json")

    assert refused.status_code == 400
    assert "kraken is not installed" in refused.json()["error"]["message"]
    assert chosen.status_code == 202
    assert chosen.json()["method"] == "classical"
    assert list(ResegmentJob.objects.values_list("method", flat=True)) == ["classical"]


def test_a_resegmentation_uses_the_projects_method_unless_told_another(world: tuple[Page, User]) -> None:
    page, reviewer = world
    Project.objects.filter(pk=page.document.project_id).update(segmentation_method="classical")

    job = resegment_job_create(user=reviewer, page=page, config={})

    assert job.method == "classical"
    with pytest.raises(InvalidInputError) as refused:
        resegment_job_create(user=reviewer, page=page, config={}, method="ocropus")
    assert "segmentation_method" in refused.value.fields
