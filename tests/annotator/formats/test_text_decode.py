""".gt.txt decoding, server-side line folders and plain-text export."""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from pathlib import Path

import pytest

from annotator.formats import (
    FormatError,
    LineExport,
    PageExport,
    decode_text,
    encode_text,
    folder_line_pairs,
    page_text,
    write_text,
)

PNG = b"\x89PNG\r\n\x1a\n fake"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain line\n", "plain line"),
        (b"windows line\r\n", "windows line"),
        (codecs.BOM_UTF8 + b"mit BOM\n", "mit BOM"),
        (b"  spaced  \n\n", "spaced"),
        (b"", ""),
        (codecs.BOM_UTF16_LE + "utf-16 ſ\n".encode("utf-16-le"), "utf-16 ſ"),
        (codecs.BOM_UTF16_BE + "big endian".encode("utf-16-be"), "big endian"),
        (codecs.BOM_UTF32_LE + "utf-32".encode("utf-32-le"), "utf-32"),
    ],
)
def test_decodes_utf8_and_bom_marked_unicode(data: bytes, expected: str) -> None:
    assert decode_text(data, name="x.gt.txt") == expected


def test_result_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Grüße")
    assert decode_text(decomposed.encode(), name="x.gt.txt") == unicodedata.normalize("NFC", "Grüße")


def test_latin1_bytes_are_refused_with_a_hint() -> None:
    with pytest.raises(FormatError, match=re.escape("0001.gt.txt: not valid UTF-8 (byte 0xe9 at offset 3)")) as info:
        decode_text("caf\xe9".encode("latin-1"), name="0001.gt.txt")
    assert "Latin-1" in str(info.value)


def test_utf16_without_bom_is_refused() -> None:
    with pytest.raises(FormatError, match="NUL characters"):
        decode_text("hello".encode("utf-16-le"), name="x.gt.txt")


def test_nul_bytes_are_refused() -> None:
    with pytest.raises(FormatError, match="NUL characters"):
        decode_text(b"abc\x00def", name="x.gt.txt")


@pytest.mark.parametrize("separator", ["\n", "\r", "\u2028", "\x0b"])
def test_multi_line_content_is_refused(separator: str) -> None:
    with pytest.raises(FormatError, match="has 2 lines of text; a line transcription must be a single line"):
        decode_text(f"one{separator}two\n".encode(), name="x.gt.txt")


def test_oversized_file_is_refused() -> None:
    with pytest.raises(FormatError, match="more than 65536"):
        decode_text(b"a" * 70_000, name="x.gt.txt")


def test_encode_text_writes_one_nfc_utf8_line_and_refuses_breaks() -> None:
    assert encode_text(unicodedata.normalize("NFD", "ü")) == "ü\n".encode()
    assert decode_text(encode_text("round trip ſ"), name="r.gt.txt") == "round trip ſ"
    with pytest.raises(FormatError, match="line breaks"):
        encode_text("a\nb", name="k")


def test_page_text_keeps_one_line_per_text_line() -> None:
    page = PageExport(
        "a.png",
        10,
        10,
        [
            LineExport("1", [], (0, 0, 1, 1), "first"),
            LineExport("2", [], (0, 0, 1, 1), None),
            LineExport("3", [], (0, 0, 1, 1), "drítte"),
        ],
    )
    assert page_text(page) == "first\n\ndrítte\n"
    assert write_text(page) == "first\n\ndrítte\n".encode()


def test_folder_line_pairs_pairs_like_a_zip(tmp_path: Path) -> None:
    (tmp_path / "book" / "sub").mkdir(parents=True)
    (tmp_path / "book" / "0001.png").write_bytes(PNG)
    (tmp_path / "book" / "0001.gt.txt").write_text("eins\n", encoding="utf-8")
    (tmp_path / "book" / "0002.png").write_bytes(PNG)
    (tmp_path / "book" / "sub" / "0003.tif").write_bytes(PNG)
    (tmp_path / "book" / "sub" / "0003.gt.txt").write_bytes(codecs.BOM_UTF16_LE + "drei".encode("utf-16-le"))
    (tmp_path / "book" / "0004.gt.txt").write_text("vier")
    (tmp_path / "book" / "0005.png").write_bytes(PNG)
    (tmp_path / "book" / "0005.gt.txt").write_bytes(b"f\xfcnf")
    (tmp_path / "book" / "README.md").write_text("x")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes(PNG)
    os.symlink(outside, tmp_path / "book" / "0006.png")

    result = folder_line_pairs(tmp_path)

    assert [(p.id, p.image_path.relative_to(tmp_path).as_posix(), p.text) for p in result.pairs] == [
        ("book/0001", "book/0001.png", "eins"),
        ("book/0002", "book/0002.png", None),
        ("book/sub/0003", "book/sub/0003.tif", "drei"),
    ]
    reasons = {r.name: r.reason for r in result.rejected}
    assert reasons["book/0004.gt.txt"].startswith("has no image")
    assert "not valid UTF-8" in reasons["book/0005.gt.txt"]
    assert reasons["book/0005.png"] == "its transcription book/0005.gt.txt cannot be read"
    assert reasons["book/0006.png"] == "symbolic link, not followed"
    assert "unsupported file type" in reasons["book/README.md"]
    assert set(reasons) == {"book/0004.gt.txt", "book/0005.gt.txt", "book/0005.png", "book/0006.png", "book/README.md"}


def test_folder_line_pairs_refuses_a_file_and_too_many_files(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a folder"):
        folder_line_pairs(tmp_path / "missing")
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(PNG)
    with pytest.raises(FormatError, match="more than 2 files"):
        folder_line_pairs(tmp_path, max_files=2)
