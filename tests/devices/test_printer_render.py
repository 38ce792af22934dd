"""ESC/POS rendering: golden bytes of the reference receipt, checked structurally; GBK and
mode switching; rare characters as raster lines; the raster-QR baseline."""
import json
from pathlib import Path

import pytest

from devices.printer.escpos_render import CHINESE_OFF, CHINESE_ON, render

FIXTURES = Path(__file__).parent / "fixtures"
PAY_URL = "https://pay.example.cn/e/3100000001"
VERIFY_URL = "https://verify.example.cn/r?d=T0001&n=100023&a=15000&c=3f9a0c1b2d4e5f60"


@pytest.fixture
def reference():
    return json.loads((FIXTURES / "receipt_collection.json").read_text("utf-8"))


def qr_store(data: str) -> bytes:
    # GS ( k pL pH cn=49 fn=80 m=48 data — store the QR symbol data
    body = b"1P0" + data.encode()
    return b"\x1d(k" + len(body).to_bytes(2, "little") + body


def text_bytes(data: bytes) -> bytes:
    """`data` without the payloads of raster images and of the verification QR code."""
    out, i = bytearray(), 0
    while (j := data.find(b"\x1dv0", i)) >= 0:
        out += data[i:j]
        wb, h = data[j + 4] + 256 * data[j + 5], data[j + 6] + 256 * data[j + 7]
        i = j + 8 + wb * h
    out += data[i:]
    return bytes(out).replace(VERIFY_URL.encode(), b"")


def test_reference_receipt_matches_golden_bytes(reference):
    assert render(reference) == (FIXTURES / "receipt_collection.escpos").read_bytes()


def test_golden_bytes_hold_what_the_contract_requires(reference):
    data = (FIXTURES / "receipt_collection.escpos").read_bytes()
    assert data.startswith(b"\x1b@")                       # ESC @ init
    assert data.endswith(b"\x1bd\x03\x1dVB\x00")           # feed 3, cut
    assert CHINESE_ON in data and CHINESE_OFF in data
    assert "王小明".encode("gbk") in data                   # the name, GBK, not UTF-8
    assert "杭州市西湖区幸福路12号3单元201".encode("gbk") in data
    assert "王小明".encode("utf-8") not in data
    for url in (PAY_URL, VERIFY_URL):
        store = qr_store(url)
        assert data.count(store) == 1
        # ANK mode (FS .) is in force when the QR code is sent
        before = data[:data.index(store)]
        assert before.rindex(CHINESE_OFF) > before.rindex(CHINESE_ON)
    assert data.count(b"\x1d(k\x03\x001Q0") == 2            # two QR print commands
    assert b"\x1dv0" not in data                            # nothing rasterised
    assert b"?" not in text_bytes(data)
    # Chinese text only ever goes out in Chinese mode
    head = data.index("示范供电公司".encode("gbk"))
    assert data[:head].rindex(CHINESE_ON) > data[:head].rfind(CHINESE_OFF)
    assert b"\x1d!\x11" in data and b"\x1bE\x01" in data and b"\x1ba\x01" in data
    assert len(data) <= 1000


def test_rare_character_name_goes_as_a_raster_line(reference):
    reference["blocks"][6]["v"] = "王𠮷"
    reference["blocks"].insert(7, {"t": "kv", "k": "户名 Name", "v": "李𬌗"})
    data = render(reference)
    assert data.count(b"\x1dv0") == 2                        # one raster image per line
    assert b"?" not in text_bytes(data)
    # the rest of the receipt is still text
    assert "3100000001".encode() in data and "王小明".encode("gbk") not in data
    header = data[data.index(b"\x1dv0"):][:8]
    width_bytes, height = header[4] + 256 * header[5], header[6] + 256 * header[7]
    assert height == 24 and 20 < width_bytes <= 48


def test_gb2312_printer_gets_gbk_extension_characters_as_raster(reference):
    reference["blocks"][6]["v"] = "张堃"
    assert b"\x1dv0" not in render(reference)
    gb2312 = render(reference, charset="gb2312")
    assert gb2312.count(b"\x1dv0") == 1 and "堃".encode("gbk") not in gb2312


def test_every_document_kind_renders(reference):
    for kind in ("collection", "void", "bill_notice", "agent_statement", "x_report",
                 "z_report", "test"):
        reference["kind"] = kind
        assert render(reference).startswith(b"\x1b@")


def test_raster_qr_baseline_is_much_larger(reference):
    native, image = render(reference), render(reference, qr_native=False)
    assert b"\x1d(k" not in image and image.count(b"\x1dv0") >= 2
    assert len(image) > 6 * len(native)


def test_bad_document_raises_before_any_byte():
    with pytest.raises(ValueError):
        render({"kind": "collection", "blocks": [{"t": "text", "text": "x", "size": "big"}]})


def test_rare_character_raster_is_drawn_not_blank_nor_a_missing_glyph_box():
    from devices.printer.escpos_render import line_image
    from devices.printer.layout import Line

    def cell(text):  # the last two columns (one CJK character) of a right-aligned line
        img = line_image(Line(" " * (32 - 2 * len(text)) + text))
        return img.crop((384 - 24, 0, 384, 24)).tobytes()

    blank, tofu = bytes([255]) * 24 * 24, cell(chr(0x10FFFD))
    for ch in ("𠮷", "𬌗"):
        drawn = cell(ch)
        assert drawn != blank and drawn != tofu
    assert cell("𠮷") != cell("𬌗")


def test_missing_cjk_font_is_a_clear_error(monkeypatch, reference):
    from devices.printer import fonts
    reference["blocks"][6]["v"] = "王𠮷"
    monkeypatch.setenv("CHAOSHOU_CJK_FONT", "/nonexistent/NotoSansCJK.ttc")
    fonts.font_file.cache_clear()
    fonts.cjk_font.cache_clear()
    try:
        with pytest.raises(fonts.CJKFontMissing, match="CHAOSHOU_CJK_FONT"):
            render(reference)
    finally:
        monkeypatch.undo()
        fonts.font_file.cache_clear()
        fonts.cjk_font.cache_clear()
    assert b"\x1dv0" in render(reference)
