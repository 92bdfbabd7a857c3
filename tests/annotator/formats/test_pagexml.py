"""PAGE XML: reading real-world variants (Transkribus, 2013, 2010 Point lists), and writing it back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from annotator.formats import (
    FormatError,
    LineExport,
    PageExport,
    parse_layout,
    parse_page_xml,
    write_page_xml,
)
from annotator.formats.pagexml import PAGE_NAMESPACE

# Shaped like a Transkribus export: custom attributes everywhere, TextRegion and
# TextLine reading order indices, the ReadingOrder putting region r2 before r1,
# and line l1b listed before l1a in the document but indexed after it.
TRANSKRIBUS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15
       http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15/pagecontent.xsd">
    <Metadata>
        <Creator>prov=University of Innsbruck:Transkribus</Creator>
        <Created>2021-03-01T10:00:00.000+01:00</Created>
        <LastChange>2021-03-02T10:00:00.000+01:00</LastChange>
        <TranskribusMetadata docId="1" pageId="2" pageNr="1" tsid="3" status="GT" userId="4"/>
    </Metadata>
    <Page imageFilename="0001_scan.jpg" imageWidth="1000" imageHeight="800">
        <ReadingOrder>
            <OrderedGroup id="ro_1" caption="Regions reading order">
                <RegionRefIndexed index="1" regionRef="r1"/>
                <RegionRefIndexed index="0" regionRef="r2"/>
            </OrderedGroup>
        </ReadingOrder>
        <TextRegion orientation="0.0" id="r1" custom="readingOrder {index:1;}">
            <Coords points="10,10 990,10 990,400 10,400"/>
            <TextLine id="l1b" custom="readingOrder {index:1;} textStyle {offset:0; length:4;bold:true;}">
                <Coords points="10,100 990,100 990,150 10,150"/>
                <Baseline points="10,140 990,140"/>
                <TextEquiv><Unicode>zweite Zeile</Unicode></TextEquiv>
            </TextLine>
            <TextLine id="l1a" custom="readingOrder {index:0;}">
                <Coords points="10,20 990,20 990,70 10,70"/>
                <Baseline points="10,60 990,60"/>
                <TextEquiv conf="0.87"><Unicode>erste Zeile &amp; mehr</Unicode></TextEquiv>
            </TextLine>
            <TextEquiv><Unicode>erste Zeile &amp; mehr
zweite Zeile</Unicode></TextEquiv>
        </TextRegion>
        <TextRegion orientation="0.0" id="r2" custom="readingOrder {index:0;}">
            <Coords points="10,500 990,500 990,700 10,700"/>
            <TextLine id="l2a" custom="readingOrder {index:0;}">
                <Coords points="10,510 990,510 990,560 10,560"/>
                <Baseline points="10,550 990,550"/>
                <TextEquiv><Unicode/></TextEquiv>
            </TextLine>
        </TextRegion>
    </Page>
</PcGts>
"""


def test_transkribus_export_follows_reading_order_and_custom_indices() -> None:
    page = parse_page_xml(TRANSKRIBUS.encode(), name="0001_scan.xml")
    assert page.image_filename == "0001_scan.jpg"
    assert (page.width, page.height) == (1000, 800)
    assert [line.id for line in page.lines] == ["l2a", "l1a", "l1b"]
    assert [line.reading_order for line in page.lines] == [0, 1, 2]
    first, second, third = page.lines
    assert first.text is None  # Transkribus' empty <Unicode/>: not transcribed yet
    assert second.text == "erste Zeile & mehr"
    assert second.confidence == pytest.approx(0.87)
    assert third.text == "zweite Zeile"
    assert third.confidence is None
    assert second.polygon == [(10, 20), (990, 20), (990, 70), (10, 70)]
    assert second.bbox == (10, 20, 990, 70)
    assert page.warnings == []


def test_without_reading_order_element_the_transkribus_region_index_decides() -> None:
    data = TRANSKRIBUS.replace('<RegionRefIndexed index="1" regionRef="r1"/>', "")
    data = data.replace('<RegionRefIndexed index="0" regionRef="r2"/>', "")
    data = data.replace('custom="readingOrder {index:1;}">', 'custom="readingOrder {index:0;}">', 1)
    data = data.replace('id="r2" custom="readingOrder {index:0;}"', 'id="r2" custom="readingOrder {index:1;}"')
    page = parse_page_xml(data.encode(), name="x.xml")
    assert [line.id for line in page.lines] == ["l1a", "l1b", "l2a"]


PAGE_2013_MISSING_TEXT = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15">
  <Metadata><Creator>x</Creator><Created>2014-01-01T00:00:00</Created><LastChange>2014-01-01T00:00:00</LastChange></Metadata>
  <Page imageFilename="images/p7.png" imageWidth="600" imageHeight="400">
    <TextRegion id="r0">
      <Coords points="0,0 600,0 600,400 0,400"/>
      <TextLine id="a"><Coords points="5,5 300,5 300,40 5,40"/></TextLine>
      <TextLine id="b">
        <Coords points="5,50 300,50 300,90 5,90"/>
        <TextEquiv index="2" conf="0.2"><Unicode>second choice</Unicode></TextEquiv>
        <TextEquiv index="1" conf="0.9"><Unicode>first choice</Unicode></TextEquiv>
      </TextLine>
      <TextLine id="c">
        <Coords points="5,100 300,100 300,140 5,140"/>
        <TextEquiv><PlainText>plain fallback</PlainText><Unicode></Unicode></TextEquiv>
      </TextLine>
      <TextLine id="d">
        <Coords points="5,150 300,150 300,190 5,190"/>
        <Word id="d_w1"><Coords points="5,150 100,150 100,190 5,190"/>
          <TextEquiv><Unicode>from</Unicode></TextEquiv></Word>
        <Word id="d_w2"><Coords points="110,150 300,150 300,190 110,190"/>
          <TextEquiv><Unicode>words</Unicode></TextEquiv></Word>
      </TextLine>
    </TextRegion>
  </Page>
</PcGts>
"""


def test_2013_namespace_missing_text_equiv_and_text_equiv_choices() -> None:
    page = parse_page_xml(PAGE_2013_MISSING_TEXT.encode(), name="p7.xml")
    assert page.image_filename == "images/p7.png"
    texts = {line.id: (line.text, line.confidence) for line in page.lines}
    assert texts["a"] == (None, None)
    assert texts["b"] == ("first choice", pytest.approx(0.9))
    assert texts["c"] == ("plain fallback", None)
    assert texts["d"] == ("from words", None)


def test_degenerate_and_missing_coords_are_skipped_with_warnings() -> None:
    data = """<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
      <Page imageFilename="a.png" imageWidth="100" imageHeight="100"><TextRegion id="r">
        <TextLine id="flat"><Coords points="10,10 50,10 90,10"/><TextEquiv><Unicode>x</Unicode></TextEquiv></TextLine>
        <TextLine id="two"><Coords points="10,10 50,50"/></TextLine>
        <TextLine id="diagonal"><Coords points="0,0 10,10 20,20"/></TextLine>
        <TextLine id="none"><TextEquiv><Unicode>lost</Unicode></TextEquiv></TextLine>
        <TextLine id="garbage"><Coords points="1,2 3,x 5,6"/></TextLine>
        <TextLine id="outside"><Coords points="200,200 300,200 300,300"/></TextLine>
        <TextLine id="good"><Coords points="10,60 90,60 90,80 10,80"/></TextLine>
      </TextRegion></Page></PcGts>"""
    page = parse_page_xml(data.encode(), name="d.xml")
    assert [line.id for line in page.lines] == ["good"]
    assert page.lines[0].reading_order == 0
    joined = "\n".join(page.warnings)
    for line_id in ("flat", "two", "diagonal", "none", "garbage", "outside"):
        assert f"line {line_id} skipped" in joined


def test_coordinates_are_clipped_to_the_page() -> None:
    data = """<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2017-07-15">
      <Page imageFilename="a.png" imageWidth="100" imageHeight="50"><TextRegion id="r">
        <TextLine id="l"><Coords points="-5,-5 150,-5 150,60 -5,60"/></TextLine>
      </TextRegion></Page></PcGts>"""
    (line,) = parse_page_xml(data.encode(), name="c.xml").lines
    assert line.polygon == [(0, 0), (100, 0), (100, 50), (0, 50)]
    assert line.bbox == (0, 0, 100, 50)


def test_2010_point_elements_are_read() -> None:
    data = """<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19">
      <Page imageFilename="old.tif" imageWidth="300" imageHeight="300"><TextRegion id="r">
        <TextLine id="l"><Coords><Point x="1" y="2"/><Point x="200" y="2"/><Point x="200" y="30"/>
          <Point x="1" y="30"/></Coords><TextEquiv><Unicode>alt</Unicode></TextEquiv></TextLine>
      </TextRegion></Page></PcGts>"""
    (line,) = parse_page_xml(data.encode(), name="old.xml").lines
    assert line.polygon == [(1, 2), (200, 2), (200, 30), (1, 30)]
    assert line.text == "alt"


def test_image_size_scales_coordinates_from_the_declared_size() -> None:
    page = parse_page_xml(TRANSKRIBUS.encode(), name="s.xml", image_size=(2000, 1600))
    assert (page.width, page.height) == (2000, 1600)
    assert page.lines[1].bbox == (20, 40, 1980, 140)
    assert any("scaled" in warning for warning in page.warnings)


def test_alto_is_not_accepted_as_page() -> None:
    with pytest.raises(FormatError, match="not a PAGE XML file"):
        parse_page_xml(b'<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"/>', name="a.xml")


def test_absurd_page_size_is_refused() -> None:
    data = b'<PcGts><Page imageFilename="a.png" imageWidth="999999999" imageHeight="10"/></PcGts>'
    with pytest.raises(FormatError, match="beyond the limit"):
        parse_page_xml(data, name="huge.xml")


def _export() -> PageExport:
    return PageExport(
        image_filename="scan <1> & co.png",
        width=800,
        height=600,
        lines=[
            LineExport("l1", [(10, 10), (400, 12), (400, 60), (10, 58)], (10, 10, 400, 60), 'Tom & "Jerry" <3', 0.93),
            LineExport("42", [], (10, 100, 500, 150), "ſchöne Grüße", None, [0.5] * 12),
            LineExport("l3", [(10, 200), (300, 200), (300, 240), (10, 240)], None, None, None),
        ],
    )


def test_written_page_xml_parses_back_to_the_same_lines() -> None:
    data = write_page_xml(_export(), created=datetime(2024, 5, 1, tzinfo=UTC))
    root = ET.fromstring(data)
    assert root.tag == f"{{{PAGE_NAMESPACE}}}PcGts"
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    page = parse_layout(data, name="out.xml")
    assert page.warnings == []
    assert page.image_filename == "scan <1> & co.png"
    assert (page.width, page.height) == (800, 600)
    assert [line.id for line in page.lines] == ["l1", "l_42", "l3"]
    assert [line.text for line in page.lines] == ['Tom & "Jerry" <3', "ſchöne Grüße", None]
    assert page.lines[0].confidence == pytest.approx(0.93)
    assert page.lines[0].polygon == [(10, 10), (400, 12), (400, 60), (10, 58)]
    assert page.lines[1].polygon == [(10, 100), (500, 100), (500, 150), (10, 150)]


def test_writer_replaces_characters_xml_cannot_hold() -> None:
    page = PageExport("a.png", 100, 100, [LineExport("l", [], (0, 0, 50, 20), "bell\x07 here")])
    parsed = parse_page_xml(write_page_xml(page), name="w.xml")
    assert parsed.lines[0].text == "bell\ufffd here"


def test_writer_refuses_a_line_without_coordinates() -> None:
    page = PageExport("a.png", 100, 100, [LineExport("l", [], None, "x")])
    with pytest.raises(FormatError, match="line l"):
        write_page_xml(page)


def test_nested_reading_order_groups_and_unlisted_regions() -> None:
    data = """<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
      <Page imageFilename="a.png" imageWidth="100" imageHeight="100">
        <ReadingOrder><OrderedGroup id="g0">
          <UnorderedGroupIndexed id="g1" index="1">
            <RegionRef regionRef="c"/><RegionRef regionRef="b"/>
          </UnorderedGroupIndexed>
          <RegionRefIndexed index="0" regionRef="d"/>
        </OrderedGroup></ReadingOrder>
        <TextRegion id="a"><TextLine id="la"><Coords points="0,0 9,0 9,9"/></TextLine></TextRegion>
        <TextRegion id="b"><TextLine id="lb"><Coords points="0,0 9,0 9,9"/></TextLine></TextRegion>
        <TextRegion id="c"><TextLine id="lc"><Coords points="0,0 9,0 9,9"/></TextLine>
          <TextRegion id="c_nested"><TextLine id="lcn"><Coords points="0,0 9,0 9,9"/></TextLine></TextRegion>
        </TextRegion>
        <TextRegion id="d"><TextLine id="ld"><Coords points="0,0 9,0 9,9"/></TextLine></TextRegion>
      </Page></PcGts>"""
    page = parse_page_xml(data.encode(), name="ro.xml")
    assert [line.id for line in page.lines] == ["ld", "lc", "lcn", "lb", "la"]


def test_lines_keep_their_region_ids_when_read_and_written() -> None:
    assert [line.region_id for line in parse_page_xml(TRANSKRIBUS.encode(), name="x.xml").lines] == ["r2", "r1", "r1"]
    box = [(10, 10), (400, 10), (400, 60), (10, 60)]
    page = PageExport(
        image_filename="scan.png",
        width=800,
        height=600,
        lines=[
            LineExport("a1", box, None, "one", region_id="r_a"),
            LineExport("a2", box, None, "two", region_id="r_a"),
            LineExport("loose", box, None, "three"),
            LineExport("a3", box, None, "four", region_id="r_a"),
        ],
    )

    data = write_page_xml(page)

    parsed = parse_page_xml(data, name="out.xml")
    # Runs of one region stay one region; a region the reading order comes back to
    # is written again under a unique id, lines without one share a default region.
    assert [(line.region_id, line.id) for line in parsed.lines] == [
        ("r_a", "a1"),
        ("r_a", "a2"),
        ("region_1", "loose"),
        ("r_a_2", "a3"),
    ]
    refs = ET.fromstring(data).findall(f".//{{{PAGE_NAMESPACE}}}RegionRefIndexed")
    assert [(ref.get("index"), ref.get("regionRef")) for ref in refs] == [
        ("0", "r_a"),
        ("1", "region_1"),
        ("2", "r_a_2"),
    ]
