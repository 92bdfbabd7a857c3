"""Hostile XML is refused before anything is expanded or fetched, and the format layer stays Django-free."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import annotator.formats
from annotator.formats import FormatError, parse_layout, parse_xml
from annotator.formats.safe_xml import detect_format

PACKAGE = Path(annotator.formats.__file__).parent


def test_xxe_entity_is_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE PcGts [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<PcGts><Page imageFilename='a.png'>&xxe;</Page></PcGts>"
    ).encode()
    with pytest.raises(FormatError, match="declares entities") as info:
        parse_xml(data, name="evil.xml")
    assert "TOP-SECRET" not in str(info.value)
    assert "evil.xml" in str(info.value)


def test_external_dtd_is_never_fetched(tmp_path: Path) -> None:
    # Were the DTD loaded, &e; would expand to its secret; unloaded, it is undefined.
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY e "TOP-SECRET-CONTENT">')
    data = f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file://{dtd}"><r>&e;</r>'.encode()
    with pytest.raises(FormatError, match="not well-formed") as info:
        parse_xml(data, name="dtd.xml")
    assert "TOP-SECRET" not in str(info.value)


def test_billion_laughs_is_refused() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
    )
    data = f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><lolz>&lol9;</lolz>'.encode()
    with pytest.raises(FormatError, match="declares entities"):
        parse_xml(data, name="laughs.xml")


def test_parameter_entities_are_refused() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x"> %p;]><r/>'
    with pytest.raises(FormatError, match="declares entities"):
        parse_xml(data, name="param.xml")


def test_plain_doctype_without_entities_is_tolerated() -> None:
    root = parse_xml(b'<?xml version="1.0"?><!DOCTYPE alto><alto/>', name="ok.xml")
    assert detect_format(root) == "alto"


def test_document_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(FormatError, match="more than the limit of 100"):
        parse_xml(b"<r>" + b" " * 200 + b"</r>", name="big.xml", max_bytes=100)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<r><unclosed></r>", "not well-formed"),
        (b"\xff\xfe garbage", "not well-formed"),
    ],
)
def test_broken_xml_gives_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_xml(data, name="broken.xml")


def test_parse_layout_refuses_other_xml() -> None:
    with pytest.raises(FormatError, match=r"not a PAGE or ALTO file.*'mets'"):
        parse_layout(b'<mets xmlns="http://www.loc.gov/METS/"/>', name="mets.xml")


def test_format_modules_import_nothing_from_django() -> None:
    allowed_roots = {"annotator", "recognition", "defusedxml", "__future__"}
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                root = module.split(".")[0]
                assert root in stdlib or root in allowed_roots, f"{path.name} imports {module}"
                if root == "annotator":
                    assert module.startswith("annotator.formats"), f"{path.name} imports {module}"
