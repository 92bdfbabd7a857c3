"""ALTO: reading v2 and v4 files (strings, spaces, hyphens, confidences, units), and writing v4 back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from annotator.formats import FormatError, LineExport, PageExport, parse_alto, parse_layout, write_alto
from annotator.formats.alto import ALTO_NAMESPACE

# Shaped like an ABBYY/docWorks v2 file: no Shape, SP between words, a HYP at the end.
ALTO_V2 = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v2#" xmlns:xlink="http://www.w3.org/1999/xlink">
  <Description>
    <MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>C:\\scans\\batch 3\\00042.tif</fileName></sourceImageInformation>
    <OCRProcessing ID="OCR_0"><ocrProcessingStep><processingSoftware><softwareName>ABBYY</softwareName>
    </processingSoftware></ocrProcessingStep></OCRProcessing>
  </Description>
  <Styles><TextStyle ID="TS1" FONTSIZE="10" FONTFAMILY="Times"/></Styles>
  <Layout>
    <Page ID="P1" PHYSICAL_IMG_NR="1" WIDTH="2000" HEIGHT="3000">
      <PrintSpace HPOS="0" VPOS="0" WIDTH="2000" HEIGHT="3000">
        <TextBlock ID="TB1" HPOS="100" VPOS="100" WIDTH="1800" HEIGHT="200" STYLEREFS="TS1">
          <TextLine ID="TL1" HPOS="100" VPOS="100" WIDTH="1800" HEIGHT="60">
            <String ID="S1" CONTENT="Der" WC="0.9" HPOS="100" VPOS="100" WIDTH="90" HEIGHT="60"/>
            <SP WIDTH="20" HPOS="190" VPOS="100"/>
            <String ID="S2" CONTENT="Zeitungs" WC="0.6" HPOS="210" VPOS="100" WIDTH="300" HEIGHT="60"/>
            <HYP CONTENT="\u00ac"/>
          </TextLine>
          <TextLine ID="TL2" HPOS="100.4" VPOS="180.6" WIDTH="1800" HEIGHT="60">
            <String CONTENT="artikel"/><String CONTENT="ohne"/><SP/><SP/><String CONTENT="Abstand"/>
          </TextLine>
          <TextLine ID="TL3" HPOS="100" VPOS="260"/>
        </TextBlock>
      </PrintSpace>
    </Page>
  </Layout>
</alto>
"""

ALTO_V4 = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
      xsi:schemaLocation="http://www.loc.gov/standards/alto/ns-v4# http://www.loc.gov/standards/alto/v4/alto-4-2.xsd">
  <Description>
    <MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>page_0007.png</fileName></sourceImageInformation>
  </Description>
  <Layout>
    <Page ID="page_1" PHYSICAL_IMG_NR="7" WIDTH="1200" HEIGHT="900">
      <PrintSpace>
        <ComposedBlock ID="cb1">
          <TextBlock ID="tb1">
            <TextLine ID="line_a" HPOS="50" VPOS="40" WIDTH="500" HEIGHT="50">
              <Shape><Polygon POINTS="50,45 550,40 550,90 50,88"/></Shape>
              <String CONTENT="kraken" WC="1.0"/><SP/><String CONTENT="polygon" WC="0.5"/>
            </TextLine>
          </TextBlock>
          <TextBlock ID="tb2">
            <TextLine ID="line_b" HPOS="50" VPOS="140" WIDTH="500" HEIGHT="50">
              <Shape><Polygon POINTS="50 140 550 140 550 190 50 190"/></Shape>
              <String CONTENT="space separated points"/>
            </TextLine>
          </TextBlock>
        </ComposedBlock>
      </PrintSpace>
    </Page>
  </Layout>
</alto>
"""


def test_alto_v2_text_hyphens_spaces_and_confidence() -> None:
    page = parse_alto(ALTO_V2.encode(), name="00042.xml")
    assert page.image_filename == "C:\\scans\\batch 3\\00042.tif"
    assert (page.width, page.height) == (2000, 3000)
    assert [line.id for line in page.lines] == ["TL1", "TL2"]
    first, second = page.lines
    assert first.text == "Der Zeitungs\u00ac"
    # Weighted by string length: (0.9 * 3 + 0.6 * 8) / 11.
    assert first.confidence == pytest.approx((0.9 * 3 + 0.6 * 8) / 11)
    assert first.bbox == (100, 100, 1900, 160)
    assert first.polygon == [(100, 100), (1900, 100), (1900, 160), (100, 160)]
    assert second.text == "artikel ohne Abstand"
    assert second.confidence is None
    assert second.bbox == (100, 181, 1900, 241)
    assert any("line TL3 skipped" in warning for warning in page.warnings)


def test_alto_v4_polygons_in_both_point_notations() -> None:
    page = parse_layout(ALTO_V4.encode(), name="p7.xml")
    assert page.image_filename == "page_0007.png"
    first, second = page.lines
    assert first.polygon == [(50, 45), (550, 40), (550, 90), (50, 88)]
    assert first.bbox == (50, 40, 550, 90)
    assert first.text == "kraken polygon"
    assert first.confidence == pytest.approx((1.0 * 6 + 0.5 * 7) / 13)
    assert second.polygon == [(50, 140), (550, 140), (550, 190), (50, 190)]
    assert page.warnings == []


def test_mm10_coordinates_are_converted_with_the_image_size() -> None:
    # An A4 page (2100 x 2970 mm10) scanned at 300 dpi is 2480 x 3508 pixels.
    data = """<alto xmlns="http://www.loc.gov/standards/alto/ns-v3#">
      <Description><MeasurementUnit>mm10</MeasurementUnit></Description>
      <Layout><Page ID="p" PHYSICAL_IMG_NR="1" WIDTH="2100" HEIGHT="2970"><PrintSpace><TextBlock ID="b">
        <TextLine ID="l" HPOS="210" VPOS="297" WIDTH="1050" HEIGHT="99"><String CONTENT="mm"/></TextLine>
      </TextBlock></PrintSpace></Page></Layout></alto>"""
    page = parse_alto(data.encode(), name="mm.xml", image_size=(2480, 3508))
    assert (page.width, page.height) == (2480, 3508)
    assert page.lines[0].bbox == (248, 351, 1488, 468)

    unconverted = parse_alto(data.encode(), name="mm.xml")
    assert unconverted.lines[0].bbox == (210, 297, 1260, 396)
    assert any("mm10" in warning for warning in unconverted.warnings)


def test_page_xml_is_not_accepted_as_alto() -> None:
    with pytest.raises(FormatError, match="not an ALTO file"):
        parse_alto(b"<PcGts/>", name="p.xml")


def test_alto_without_page_is_refused() -> None:
    with pytest.raises(FormatError, match="without a Page"):
        parse_alto(b"<alto><Layout/></alto>", name="empty.xml")


def test_written_alto_parses_back_to_the_same_lines() -> None:
    page = PageExport(
        image_filename="scan&1.png",
        width=1000,
        height=700,
        lines=[
            LineExport("l1", [(10, 10), (400, 12), (400, 60), (10, 58)], (10, 10, 400, 60), "a <b> & 'c'", 0.75),
            LineExport("2", [], (10, 100, 500, 150), "Grüße  aus  Wien", None, [0.1 * (i % 10) for i in range(16)]),
            LineExport("l3", [(10, 200), (300, 200), (300, 240), (10, 240)], None, None, 0.4),
        ],
    )
    data = write_alto(page)
    root = ET.fromstring(data)
    assert root.tag == f"{{{ALTO_NAMESPACE}}}alto"
    parsed = parse_layout(data, name="out.xml")
    assert parsed.warnings == []
    assert parsed.image_filename == "scan&1.png"
    assert (parsed.width, parsed.height) == (1000, 700)
    assert [line.id for line in parsed.lines] == ["l1", "l_2", "l3"]
    # ALTO cannot hold double spaces: words are separated by single SP elements.
    assert [line.text for line in parsed.lines] == ["a <b> & 'c'", "Grüße aus Wien", None]
    assert parsed.lines[0].confidence == pytest.approx(0.75)
    assert parsed.lines[0].polygon == [(10, 10), (400, 12), (400, 60), (10, 58)]
    assert parsed.lines[1].bbox == (10, 100, 500, 150)

    ns = {"a": ALTO_NAMESPACE}
    glyphs = root.findall(".//a:TextLine[@ID='l_2']//a:Glyph", ns)
    assert "".join(g.get("CONTENT", "") for g in glyphs) == "GrüßeausWien"
    assert [float(g.get("GC", "")) for g in glyphs[:3]] == pytest.approx([0.0, 0.1, 0.2])
    first_word = root.find(".//a:TextLine[@ID='l_2']/a:String", ns)
    assert first_word is not None
    assert float(first_word.get("WC", "")) == pytest.approx(0.2)  # mean of 0.0..0.4
    assert root.find(".//a:TextLine[@ID='l3']/a:String", ns) is not None  # schema: at least one String


def test_written_ids_stay_unique_and_valid() -> None:
    raw_ids = ["block_1", "a b", "a b"]
    lines = [LineExport(raw, [], (0, 10 * n, 50, 10 * n + 8), f"t{n}") for n, raw in enumerate(raw_ids)]
    parsed = parse_alto(write_alto(PageExport("a.png", 100, 100, lines)), name="ids.xml")
    assert [line.id for line in parsed.lines] == ["block_1_2", "a_b", "a_b_2"]
    assert [line.text for line in parsed.lines] == ["t0", "t1", "t2"]


def test_lines_keep_their_text_block_ids_when_read_and_written() -> None:
    box = [(10, 10), (400, 10), (400, 60), (10, 60)]
    page = PageExport(
        image_filename="scan.png",
        width=800,
        height=600,
        lines=[
            LineExport("l1", box, None, "one", region_id="tb_1"),
            LineExport("l2", box, None, "two", region_id="tb_2"),
            LineExport("l3", box, None, "three"),
        ],
    )

    parsed = parse_layout(write_alto(page), name="out.xml")

    assert [(line.region_id, line.id) for line in parsed.lines] == [("tb_1", "l1"), ("tb_2", "l2"), ("block_1", "l3")]


def test_a_baseline_is_read_as_points_or_as_one_height_across_the_line() -> None:
    older = ALTO_V2.replace('<TextLine ID="TL1" HPOS="100"', '<TextLine ID="TL1" BASELINE="150.4" HPOS="100"')
    newer = ALTO_V2.replace(
        '<TextLine ID="TL1" HPOS="100"', '<TextLine ID="TL1" BASELINE="100,150 1900,152" HPOS="100"'
    )

    assert parse_alto(older.encode(), name="a.xml").lines[0].baseline == [(100, 150), (1900, 150)]
    assert parse_alto(newer.encode(), name="a.xml").lines[0].baseline == [(100, 150), (1900, 152)]
    assert parse_alto(ALTO_V2.encode(), name="a.xml").lines[1].baseline == []
