"""Exports: PAGE, ALTO, text, line folders and the model, as zips with a download link."""

from __future__ import annotations

import io
import json
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from annotator.errors import ForbiddenError, InvalidInputError
from annotator.formats import parse_alto, parse_page_xml
from annotator.jobs.exports import export_job_run
from annotator.jobs.imports import import_job_run
from annotator.models import Document, ExportJob, ImportJob, Line, Membership, Page, Project
from annotator.services import export_job_create, import_job_create, line_flag
from tests.annotator.factories import make_member, make_project
from tests.annotator.test_imports import TEXTS, line_png, make_zip, page_with_lines, page_xml, png

pytestmark = pytest.mark.django_db


def project_with_a_page(media_root: Path) -> Project:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    page, boxes = page_with_lines(TEXTS)
    xml = page_xml("scan.png", (page.shape[1], page.shape[0]), boxes, TEXTS)
    files = [SimpleUploadedFile("export.zip", make_zip({"scan.xml": xml, "scan.png": png(page)}))]
    job = import_job_run(job=import_job_create(project=project, user=admin, files=files))
    assert job.status == "succeeded", job.error
    return project


def exported(project: Project, fmt: str) -> zipfile.ZipFile:
    user = project.memberships.get().user
    job = export_job_run(job=export_job_create(project=project, user=user, format=fmt))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    with job.file.open("rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


@pytest.mark.parametrize(("fmt", "parse"), [("page", parse_page_xml), ("alto", parse_alto)])
def test_xml_exports_hold_the_page_its_lines_and_their_text(media_root: Path, fmt: str, parse: object) -> None:
    project = project_with_a_page(media_root)

    archive = exported(project, fmt)

    xml_names = [name for name in archive.namelist() if name.endswith(".xml")]
    assert len(xml_names) == 1
    parsed = parse(archive.read(xml_names[0]), name=xml_names[0])  # type: ignore[operator]
    assert [line.text for line in sorted(parsed.lines, key=lambda x: x.reading_order)] == TEXTS
    assert any(name.endswith(".png") for name in archive.namelist())


def test_text_and_line_folder_exports(media_root: Path) -> None:
    project = project_with_a_page(media_root)

    text = exported(project, "text")
    lines = exported(project, "lines")

    (text_name,) = text.namelist()
    assert text.read(text_name).decode().splitlines() == TEXTS
    gt = sorted(name for name in lines.namelist() if name.endswith(".gt.txt"))
    assert len(gt) == len(TEXTS)
    assert sorted(lines.read(name).decode().strip() for name in gt) == sorted(TEXTS)
    split = json.loads(lines.read("split.json"))
    assert sorted(split["train"] + split["eval"]) == sorted(name.split("/")[-1].removesuffix(".gt.txt") for name in gt)
    assert Line.objects.filter(project=project).count() == len(TEXTS)


def test_model_export_needs_a_model(media_root: Path) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)

    with pytest.raises(InvalidInputError, match="no model yet"):
        export_job_create(project=project, user=admin, format="model")


def test_labelers_cannot_export_and_reviewers_only_when_granted(media_root: Path) -> None:
    project = make_project()
    labeler = make_member(project)
    reviewer = make_member(project, Membership.Role.REVIEWER)

    for member in (labeler, reviewer):
        with pytest.raises(ForbiddenError):
            export_job_create(project=project, user=member, format="model")
    Project.objects.filter(pk=project.pk).update(reviewers_can_export=True)
    project.refresh_from_db()
    with pytest.raises(ForbiddenError):
        export_job_create(project=project, user=labeler, format="text")
    assert export_job_create(project=project, user=reviewer, format="text").status == ExportJob.Status.QUEUED


def test_export_over_http_ends_in_a_download_link(media_root: Path) -> None:
    project = project_with_a_page(media_root)
    client = APIClient()
    client.force_authenticate(project.memberships.get().user)

    queued = client.post(f"/api/projects/{project.pk}/exports", {"format": "text"}, format="json")
    early = client.get(f"/api/exports/{queued.json()['id']}/download")
    export_job_run(job=ExportJob.objects.get(pk=queued.json()["id"]))
    done = client.get(f"/api/exports/{queued.json()['id']}")
    download = client.get(done.json()["download_url"])

    assert queued.status_code == 202
    assert early.status_code == 404
    assert "queued" in early.json()["error"]["message"]
    assert done.json()["status"] == "succeeded"
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    body = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    assert zipfile.ZipFile(io.BytesIO(body)).namelist()


def flag_second_line(project: Project) -> Line:
    line = Line.objects.filter(project=project).order_by("reading_order", "id")[1]
    admin = project.memberships.get().user
    line_flag(line=line, user=admin, kind="illegible", comment="torn; see {verso}", client_id=uuid.uuid4())
    return line


def test_a_flag_is_exported_in_page_custom_and_alto_tags_and_its_line_has_no_text(media_root: Path) -> None:
    project = project_with_a_page(media_root)
    flagged = flag_second_line(project)

    page = exported(project, "page")
    alto = exported(project, "alto")

    (page_name,) = [name for name in page.namelist() if name.endswith(".xml")]
    page_root = ET.fromstring(page.read(page_name))
    customs = {el.get("id"): el.get("custom") for el in page_root.iter() if el.tag.endswith("TextLine")}
    # An imported line keeps its id; the page was imported from PAGE XML.
    line_id = flagged.external_id or f"l{flagged.pk}"
    assert customs[line_id] == (
        "readingOrder {index:1;} flag {kind:illegible;comment:torn\\u003b see \\u007bverso\\u007d;}"
    )
    assert sum("flag" in (custom or "") for custom in customs.values()) == 1
    texts = [
        line.text
        for line in sorted(parse_page_xml(page.read(page_name), name=page_name).lines, key=lambda x: x.reading_order)
    ]
    assert texts == [TEXTS[0], None, *TEXTS[2:]]
    (alto_name,) = [name for name in alto.namelist() if name.endswith(".xml")]
    alto_root = ET.fromstring(alto.read(alto_name))
    (tag,) = [el for el in alto_root.iter() if el.tag.endswith("OtherTag")]
    (line_el,) = [el for el in alto_root.iter() if el.tag.endswith("TextLine") and el.get("TAGREFS")]
    assert (tag.get("LABEL"), tag.get("DESCRIPTION")) == ("illegible", "torn; see {verso}")
    assert line_el.get("TAGREFS") == tag.get("ID")
    assert line_el.get("ID") == line_id
    assert len(parse_alto(alto.read(alto_name), name=alto_name).lines) == len(TEXTS)


def test_flagged_lines_are_an_empty_text_line_listed_in_flags_tsv_and_left_out_of_line_folders(
    media_root: Path,
) -> None:
    project = project_with_a_page(media_root)
    flagged = flag_second_line(project)

    text = exported(project, "text")
    lines = exported(project, "lines")

    (text_name,) = [name for name in text.namelist() if name.endswith(".txt")]
    assert text.read(text_name).decode().splitlines() == [TEXTS[0], "", *TEXTS[2:]]
    rows = text.read("flags.tsv").decode().splitlines()
    assert rows[1].split("\t") == [text_name, str(flagged.pk), "2", "illegible", "torn; see {verso}"]
    gt = sorted(lines.read(name).decode().strip() for name in lines.namelist() if name.endswith(".gt.txt"))
    assert gt == sorted([TEXTS[0], *TEXTS[2:]])
    assert f"{flagged.pk:07d}" not in json.dumps(json.loads(lines.read("split.json")))


# --- names, ids and scope ----------------------------------------------------------

# Two regions, ids as eScriptorium and Transkribus write them; the last line has no text yet.
REGIONS: dict[str, list[tuple[str, str | None]]] = {
    "r_head": [("tl_head_1", "Kew Gardens")],
    "r_body": [("tl_b1", "dear sir"), ("tl_b2", None)],
}


def transkribus_page(image_name: str, size: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> bytes:
    regions, n = "", 0
    for region_id, lines in REGIONS.items():
        body = ""
        for line_id, text in lines:
            x0, y0, x1, y1 = boxes[n]
            n += 1
            equiv = f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv>" if text else "<TextEquiv><Unicode/></TextEquiv>"
            coords = f'<Coords points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"/>'
            baseline = f'<Baseline points="{x0},{y1 - 6} {(x0 + x1) // 2},{y1 - 5} {x1},{y1 - 6}"/>'
            body += f'<TextLine id="{line_id}">{coords}{baseline}{equiv}</TextLine>'

        regions += f'<TextRegion id="{region_id}"><Coords points="0,0 10,0 10,10 0,10"/>{body}</TextRegion>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">'
        f'<Page imageFilename="{image_name}" imageWidth="{size[0]}" imageHeight="{size[1]}">{regions}</Page></PcGts>'
    ).encode()


def http_import(client: APIClient, project: Project, name: str, data: bytes) -> None:
    queued = client.post(
        f"/api/projects/{project.pk}/imports", {"file": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    assert queued.status_code == 202, queued.json()
    job = import_job_run(job=ImportJob.objects.get(pk=queued.json()["id"]))
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert not job.report["rejected"], job.report


def http_export(client: APIClient, project: Project, **body: object) -> zipfile.ZipFile:
    queued = client.post(f"/api/projects/{project.pk}/exports", body, format="json")
    assert queued.status_code == 202, queued.json()
    export_job_run(job=ExportJob.objects.get(pk=queued.json()["id"]))
    done = client.get(f"/api/exports/{queued.json()['id']}").json()
    assert done["status"] == "succeeded", done
    download = client.get(done["download_url"])
    return zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))  # type: ignore[attr-defined]


def lines_as_imported(project: Project) -> list[tuple[str, str, str, str, str | None]]:
    """(image name, XML name, region id, line id, text) of every line, in page order."""
    lines = Line.objects.filter(project=project).select_related("page", "current_transcription")
    return [
        (
            line.page.source_name if line.page else "",
            line.page.source_xml_name if line.page else "",
            line.region_id,
            line.external_id,
            line.current_transcription.text if line.current_transcription else None,
        )
        for line in lines.order_by("page__number", "reading_order")
    ]


def letters_project(xml_name: str = "folio_12r.xml") -> tuple[Project, APIClient]:
    """A project with one PAGE page of three lines in two regions (``REGIONS``),
    imported over HTTP as "letters.zip", and its admin's client."""
    project = make_project()
    admin = APIClient()
    admin.force_authenticate(make_member(project, Membership.Role.ADMIN))
    page, boxes = page_with_lines(["Kew Gardens", "dear sir", "yours truly"])
    xml = transkribus_page("folio_12r.png", (page.shape[1], page.shape[0]), boxes)
    http_import(admin, project, "letters.zip", make_zip({xml_name: xml, "folio_12r.png": png(page)}))
    return project, admin


def imported_fresh(exported_zip: zipfile.ZipFile) -> tuple[Project, APIClient]:
    """A fresh project that imported ``exported_zip`` over HTTP, and its admin's client."""
    fresh = make_project()
    fresh_admin = APIClient()
    fresh_admin.force_authenticate(make_member(fresh, Membership.Role.ADMIN))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for name in exported_zip.namelist():
            copy.writestr(name, exported_zip.read(name))
    http_import(fresh_admin, fresh, "export.zip", buffer.getvalue())
    return fresh, fresh_admin


def test_a_page_export_imports_into_a_fresh_project_with_the_same_text_ids_and_file_names(media_root: Path) -> None:
    project, admin = letters_project("page/folio_12r.xml")
    labeler_user = make_member(project)
    # A labeler transcribes the line that had no text.
    labeler = APIClient()
    labeler.force_authenticate(labeler_user)
    shown = labeler.post(f"/api/projects/{project.pk}/queue/next").json()["line"]
    body = {"text": "yours truly", "client_id": str(uuid.uuid4()), "lease": shown["lease"]}
    assert labeler.post(f"/api/lines/{shown['id']}/submit", body, format="json").status_code == 200

    exported_zip = http_export(admin, project, format="page")
    fresh, fresh_admin = imported_fresh(exported_zip)

    expected = [
        ("folio_12r.png", "folio_12r.xml", "r_head", "tl_head_1", "Kew Gardens"),
        ("folio_12r.png", "folio_12r.xml", "r_body", "tl_b1", "dear sir"),
        ("folio_12r.png", "folio_12r.xml", "r_body", "tl_b2", "yours truly"),
    ]
    assert lines_as_imported(project) == expected
    assert lines_as_imported(fresh) == expected
    assert sorted(PurePosixPath(name).name for name in exported_zip.namelist()) == ["folio_12r.png", "folio_12r.xml"]
    parsed = parse_page_xml(exported_zip.read(next(n for n in exported_zip.namelist() if n.endswith(".xml"))), name="x")
    assert parsed.image_filename == "folio_12r.png"
    again = http_export(fresh_admin, fresh, format="page")
    assert sorted(PurePosixPath(name).name for name in again.namelist()) == ["folio_12r.png", "folio_12r.xml"]


def outlines(project: Project) -> list[tuple[str, list[list[int]], list[list[int]]]]:
    """(line id, polygon, baseline) of every line, in reading order."""
    lines = Line.objects.filter(project=project).order_by("page__number", "reading_order")
    return [(line.external_id, line.polygon, line.baseline) for line in lines]


def test_a_page_round_trip_keeps_polygons_baselines_and_the_reading_order_set_in_the_page_view(
    media_root: Path,
) -> None:
    project, admin = letters_project()
    page = Page.objects.get(document__project=project)
    head, first, second = Line.objects.filter(page=page).order_by("reading_order")
    x0, _y0, x1, y1 = first.bbox or [0, 0, 0, 0]
    assert first.baseline == [[x0, y1 - 6], [(x0 + x1) // 2, y1 - 5], [x1, y1 - 6]]
    reordered = admin.put(f"/api/pages/{page.pk}/reading-order", {"ids": [head.pk, second.pk, first.pk]}, format="json")
    assert reordered.status_code == 200, reordered.json()

    exported_zip = http_export(admin, project, format="page")
    fresh, _fresh_admin = imported_fresh(exported_zip)

    assert [line_id for line_id, _polygon, _baseline in outlines(project)] == ["tl_head_1", "tl_b2", "tl_b1"]
    assert outlines(fresh) == outlines(project)
    assert all(len(baseline) == 3 for _id, _polygon, baseline in outlines(fresh))


def test_an_alto_export_writes_baselines_that_read_back(media_root: Path) -> None:
    project, admin = letters_project()

    archive = http_export(admin, project, format="alto")

    (name,) = [n for n in archive.namelist() if n.endswith(".xml")]
    parsed = parse_alto(archive.read(name), name=name)
    stored = [[tuple(point) for point in line.baseline] for line in Line.objects.filter(project=project)]
    assert [line.baseline for line in parsed.lines] == stored


def test_an_alto_export_keeps_line_and_block_ids(media_root: Path) -> None:
    project, admin = letters_project()

    archive = http_export(admin, project, format="alto")

    (name,) = [n for n in archive.namelist() if n.endswith(".xml")]
    parsed = parse_alto(archive.read(name), name=name)
    assert [(line.region_id, line.id) for line in parsed.lines] == [
        ("r_head", "tl_head_1"),
        ("r_body", "tl_b1"),
        ("r_body", "tl_b2"),
    ]


def test_verified_scope_and_one_document_leave_the_rest_out(media_root: Path) -> None:
    project, admin = letters_project()
    http_import(admin, project, "other.zip", make_zip({"a.png": line_png("other"), "a.gt.txt": b"other\n"}))
    letters = Document.objects.get(project=project, name="letters.zip")

    everything = http_export(admin, project, format="text")
    verified = http_export(admin, project, format="text", scope="verified")
    one = http_export(admin, project, format="text", scope="verified", document=letters.pk)
    bad_scope = admin.post(f"/api/projects/{project.pk}/exports", {"format": "text", "scope": "some"}, format="json")
    foreign = Document.objects.create(project=make_project(), name="elsewhere")
    bad_document = admin.post(
        f"/api/projects/{project.pk}/exports", {"format": "text", "document": foreign.pk}, format="json"
    )

    assert everything.read("letters.zip.txt").decode().splitlines() == ["Kew Gardens", "dear sir", ""]
    assert verified.read("letters.zip.txt").decode().splitlines() == ["Kew Gardens", "dear sir"]
    assert sorted(verified.namelist()) == ["letters.zip.txt", "other.zip.txt"]
    assert one.namelist() == ["letters.zip.txt"]
    assert bad_scope.status_code == 400
    assert bad_scope.json()["error"]["fields"]["scope"]
    assert bad_document.status_code == 400
    assert bad_document.json()["error"]["fields"]["document"]
