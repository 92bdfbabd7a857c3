"""Zip archives: hostile ones refused before decompression, honest ones sorted into pages, XML pages and lines."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from annotator.formats import (
    ArchiveLimits,
    ArchiveMember,
    FormatError,
    classify_archive,
    parse_layout,
    read_zip,
)

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


def make_zip(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def patch_headers(data: bytes, *, flag_bits: int = 0, file_size: int | None = None) -> bytes:
    """Rewrite every local and central header: OR ``flag_bits`` in, optionally lie about the size."""
    out = bytearray(data)
    for signature, flags_at, size_at in ((b"PK\x03\x04", 6, 22), (b"PK\x01\x02", 8, 24)):
        start = 0
        while (start := out.find(signature, start)) >= 0:
            (flags,) = struct.unpack_from("<H", out, start + flags_at)
            struct.pack_into("<H", out, start + flags_at, flags | flag_bits)
            if file_size is not None:
                struct.pack_into("<I", out, start + size_at, file_size)
            start += 4
    return bytes(out)


def test_reads_regular_members_and_skips_folders_and_os_litter() -> None:
    data = make_zip(
        {
            "book/": b"",
            "book/0001.png": PNG,
            "book\\0002.png": PNG,
            "./book/0001.gt.txt": b"hello\n",
            "__MACOSX/book/._0001.png": b"junk",
            "book/.DS_Store": b"junk",
        }
    )
    members = read_zip(data, limits=ArchiveLimits())
    assert [m.name for m in members] == ["book/0001.png", "book/0002.png", "book/0001.gt.txt"]
    assert members[2].data == b"hello\n"


def test_reads_from_a_path_and_a_file_object(tmp_path: Path) -> None:
    path = tmp_path / "upload.zip"
    path.write_bytes(make_zip({"a.png": PNG}))
    assert [m.name for m in read_zip(path)] == ["a.png"]
    with path.open("rb") as handle:
        assert read_zip(handle)[0].data == PNG


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("../evil.png", "escapes the archive"),
        ("lines/../../evil.png", "escapes the archive"),
        ("..\\evil.png", "escapes the archive"),
        ("/etc/evil.png", "absolute path"),
        ("C:/Windows/evil.png", "drive letter"),
    ],
)
def test_path_escapes_are_refused_naming_the_member(member: str, message: str) -> None:
    data = make_zip({"ok.png": PNG, member: PNG})
    with pytest.raises(FormatError, match=message) as info:
        read_zip(data, name="upload.zip")
    assert member in str(info.value)
    assert "upload.zip" in str(info.value)


def test_symlink_entry_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(FormatError, match=re.escape("link.png is a symbolic link")):
        read_zip(buffer.getvalue())


def test_zip_bomb_is_refused_from_its_declared_ratio_before_decompressing(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = make_zip({"page.png": PNG, "bomb.tif": bytes(8 * 1024 * 1024)})
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spying_open(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: object, **kwargs: object) -> object:
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spying_open)
    limits = ArchiveLimits(max_ratio=100, ratio_grace_bytes=64 * 1024)
    with pytest.raises(FormatError, match=r"bomb.tif expands \d+-fold"):
        read_zip(bomb, limits=limits)
    assert opened == []  # refused from the central directory alone


def test_member_lying_about_its_size_is_read_no_further_than_declared() -> None:
    honest = make_zip({"bomb.png": bytes(4 * 1024 * 1024)})
    lying = patch_headers(honest, file_size=1000)
    with pytest.raises(FormatError, match=re.escape("bomb.png is corrupt")):
        read_zip(lying, limits=ArchiveLimits(ratio_grace_bytes=64 * 1024))


def test_total_uncompressed_size_is_limited() -> None:
    data = make_zip({"a.png": os.urandom(600), "b.png": os.urandom(600)})
    with pytest.raises(FormatError, match=r"more than 1000 bytes uncompressed in all \(reached at b.png\)"):
        read_zip(data, limits=ArchiveLimits(max_total_bytes=1000))


def test_single_member_size_is_limited() -> None:
    data = make_zip({"big.png": os.urandom(2000)})
    with pytest.raises(FormatError, match=re.escape("big.png is 2000 bytes uncompressed")):
        read_zip(data, limits=ArchiveLimits(max_member_bytes=1000))


def test_too_many_members_are_refused() -> None:
    data = make_zip({f"{i}.png": PNG for i in range(4)})
    with pytest.raises(FormatError, match="4 entries, more than the limit of 3"):
        read_zip(data, limits=ArchiveLimits(max_members=3))


def test_encrypted_member_is_refused() -> None:
    data = patch_headers(make_zip({"secret.png": PNG}, compression=zipfile.ZIP_STORED), flag_bits=0x1)
    with pytest.raises(FormatError, match=re.escape("secret.png is encrypted")):
        read_zip(data)


def test_overlapping_entries_are_refused() -> None:
    data = bytearray(make_zip({"a.png": PNG, "b.png": PNG}))
    second = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, second + 42, 0)  # b.png's header offset -> a.png's data
    with pytest.raises(FormatError, match=re.escape("shares its data with a.png")):
        read_zip(bytes(data))


def test_duplicate_names_are_refused() -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns when writing a duplicate
        archive.writestr("a.png", PNG)
        archive.writestr("a.png", PNG + b"2")
    with pytest.raises(FormatError, match=re.escape("a.png appears twice")):
        read_zip(buffer.getvalue())


def test_not_a_zip_is_a_clear_error() -> None:
    with pytest.raises(FormatError, match=re.escape("upload.zip: not a readable zip archive")):
        read_zip(b"this is not a zip", name="upload.zip")


# Classification ---------------------------------------------------------------------------------


def page_xml(image: str, *, line: str = "text") -> bytes:
    return f"""<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
      <Page imageFilename="{image}" imageWidth="100" imageHeight="100"><TextRegion id="r">
        <TextLine id="l"><Coords points="0,0 90,0 90,20 0,20"/>
          <TextEquiv><Unicode>{line}</Unicode></TextEquiv></TextLine>
      </TextRegion></Page></PcGts>""".encode()


def alto_xml(image: str) -> bytes:
    return f"""<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Description>
      <MeasurementUnit>pixel</MeasurementUnit><sourceImageInformation><fileName>{image}</fileName>
      </sourceImageInformation></Description><Layout><Page ID="p" PHYSICAL_IMG_NR="1" WIDTH="100" HEIGHT="100">
      <PrintSpace/></Page></Layout></alto>""".encode()


def members(files: dict[str, bytes]) -> list[ArchiveMember]:
    return [ArchiveMember(name, data) for name, data in files.items()]


def test_transkribus_style_export_pairs_xml_with_images_by_name_in_any_folder() -> None:
    contents = classify_archive(
        read_zip(
            make_zip(
                {
                    "doc/0010.jpg": PNG,
                    "doc/0002.JPG": PNG,
                    "doc/page/0010.xml": page_xml("0010.jpg"),
                    "doc/page/0002.xml": page_xml("0002.jpg", line="zwei"),
                    "doc/mets.xml": b'<mets xmlns="http://www.loc.gov/METS/"/>',
                }
            )
        )
    )
    assert [(p.xml.name, p.image.name, p.format) for p in contents.xml_pages] == [
        ("doc/page/0002.xml", "doc/0002.JPG", "page"),
        ("doc/page/0010.xml", "doc/0010.jpg", "page"),
    ]
    assert contents.page_images == []
    assert [str(r) for r in contents.rejected] == [
        "doc/mets.xml: not a PAGE or ALTO file (root element 'mets'), ignored"
    ]
    page = parse_layout(contents.xml_pages[0].xml.data, name=contents.xml_pages[0].xml.name, image_size=(100, 100))
    assert page.lines[0].text == "zwei"


def test_alto_with_a_foreign_path_finds_its_image_by_base_name_or_stem() -> None:
    contents = classify_archive(
        members(
            {
                "alto/00042.xml": alto_xml("C:\\scans\\00042.tif"),
                "img/00042.tif": PNG,
                "alto/p5.xml": alto_xml("/mnt/ocr/original-5.tif"),
                "img/p5.png": PNG,
            }
        ),
        kind="xml",
    )
    assert [(p.xml.name, p.image.name, p.format) for p in contents.xml_pages] == [
        ("alto/00042.xml", "img/00042.tif", "alto"),
        ("alto/p5.xml", "img/p5.png", "alto"),
    ]
    assert contents.xml_pages[1].warnings == [
        "alto/p5.xml names original-5.tif, not in the archive; paired with p5.png by name"
    ]
    assert contents.rejected == []


def test_xml_problems_are_rejections_with_reasons() -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE PcGts [<!ENTITY x SYSTEM "file:///etc/passwd">]><PcGts>&x;</PcGts>'
    contents = classify_archive(
        members(
            {
                "page.xml": page_xml("scan1.jpg"),
                "evil.xml": xxe,
                "a/scan.png": PNG,
                "b/scan.png": PNG,
                "ambiguous.xml": page_xml("scan.png"),
                "first.xml": page_xml("shared.png"),
                "second.xml": page_xml("shared.png"),
                "shared.png": PNG,
                "orphan.png": PNG,
            }
        ),
        kind="xml",
    )
    reasons = {r.name: r.reason for r in contents.rejected}
    assert reasons["page.xml"] == "references scan1.jpg, not in the archive"
    assert "declares entities" in reasons["evil.xml"]
    assert "ambiguous" in reasons["ambiguous.xml"]
    assert reasons["second.xml"] == "describes shared.png, already paired with first.xml"
    assert reasons["orphan.png"] == "no XML file in the archive names this image"
    assert [p.xml.name for p in contents.xml_pages] == ["first.xml"]


def test_line_pairs_untranscribed_images_and_orphans() -> None:
    contents = classify_archive(
        members(
            {
                "lines/001.png": PNG,
                "lines/001.gt.txt": "Grüße\n".encode(),
                "lines/002.png": PNG,
                "lines/003.gt.txt": b"no image",
                "lines/004.png": PNG,
                "lines/004.gt.txt": "caf\xe9".encode("latin-1"),
                "lines/010.bin.png": PNG,
                "lines/010.gt.txt": b"ocropus",
                "notes.txt": b"hello",
                "scan.pdf": b"%PDF",
            }
        )
    )
    assert [(p.id, p.image.name, p.text) for p in contents.line_pairs] == [
        ("lines/001", "lines/001.png", "Grüße"),
        ("lines/002", "lines/002.png", None),
        ("lines/010", "lines/010.bin.png", "ocropus"),
    ]
    reasons = {r.name: r.reason for r in contents.rejected}
    assert reasons["lines/003.gt.txt"].startswith("has no image")
    assert "not valid UTF-8" in reasons["lines/004.gt.txt"]
    assert reasons["lines/004.png"] == "its transcription lines/004.gt.txt cannot be read"
    assert "not <id>.gt.txt" in reasons["notes.txt"]
    assert "unsupported file type" in reasons["scan.pdf"]
    assert contents.page_images == []


def test_gt_matching_two_images_rejects_all_three() -> None:
    contents = classify_archive(members({"1.png": PNG, "1.jpg": PNG, "1.gt.txt": b"x"}), kind="lines")
    assert contents.line_pairs == []
    assert sorted(r.name for r in contents.rejected) == ["1.gt.txt", "1.jpg", "1.png"]


def test_images_only_are_pages_in_auto_and_lines_when_asked() -> None:
    files = members({"p10.png": PNG, "p2.png": PNG})
    auto = classify_archive(files)
    assert [m.name for m in auto.page_images] == ["p2.png", "p10.png"]
    assert auto.line_pairs == []
    lines = classify_archive(files, kind="lines")
    assert [(p.id, p.text) for p in lines.line_pairs] == [("p2", None), ("p10", None)]
    assert lines.page_images == []


def test_pages_kind_rejects_xml_and_transcriptions() -> None:
    contents = classify_archive(members({"a.png": PNG, "a.gt.txt": b"x", "a.xml": page_xml("a.png")}), kind="pages")
    assert [m.name for m in contents.page_images] == ["a.png"]
    assert {r.name: r.reason for r in contents.rejected} == {
        "a.gt.txt": ".gt.txt transcriptions are not read in a 'pages' import",
        "a.xml": "XML files are not read in a 'pages' import",
    }


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(FormatError, match="unknown import kind"):
        classify_archive([], kind="everything")  # type: ignore[arg-type]
