"""Receipt layout: display width (CJK = 2 columns), wrapping, key/value lines, validation."""
import pytest

from devices.printer.layout import (COLUMNS, Cut, Feed, Line, Qr, layout, printable,
                                    text_width, wrap)


def doc(*blocks, kind="collection"):
    return {"kind": kind, "receipt_no": "1", "copy": False, "blocks": list(blocks)}


def test_widths_and_printable_charset():
    assert text_width("王小明 Li") == 9
    assert printable("王") and printable("堃") and printable("a")
    assert not printable("堃", "gb2312")  # a GBK extension, not in the GB2312 font
    assert not printable("𠮷") and not printable("𬌗")  # outside GBK and the BMP


def test_wrap_keeps_words_and_breaks_cjk_anywhere():
    lines = wrap("杭州市西湖区幸福路十二号三单元二零一室 Beware of the dog please", 16)
    assert all(text_width(line) <= 16 for line in lines)
    assert lines[0] == "杭州市西湖区幸福"
    assert "Beware" in " ".join(lines) and not any(line.startswith(" ") for line in lines[1:])
    assert wrap("x" * 40, 32) == ["x" * 32, "x" * 8]
    assert wrap("", 32) == [""]


def test_kv_pads_to_32_columns_and_wraps_long_values():
    items = layout(doc({"t": "kv", "k": "户名 Name", "v": "王小明"},
                       {"t": "kv", "k": "地址 Address", "v": "杭州市西湖区幸福路12号3单元201"}))
    assert items[0] == Line("户名 Name" + " " * 17 + "王小明")
    assert text_width(items[0].text) == COLUMNS
    assert items[1].text == "地址 Address"
    assert items[2].text.endswith("单元201") and text_width(items[2].text) == COLUMNS


def test_sizes_halve_columns_and_other_blocks():
    items = layout(doc({"t": "text", "text": "一二三四五六七八九十", "size": "double",
                        "align": "center", "bold": True},
                       {"t": "rule"}, {"t": "qr", "data": "https://x.cn/a", "caption": "扫码"},
                       {"t": "feed", "n": 2}, {"t": "cut"}))
    assert items[0] == Line("一二三四五六七八", "center", True, 2, 2)
    assert items[1].text == "九十"
    assert items[2] == Line("-" * 32)
    assert items[3:] == [Qr("https://x.cn/a"), Line("扫码", "center"), Feed(2), Cut()]


def test_control_characters_become_spaces_not_commands():
    items = layout(doc({"t": "text", "text": "a\x1b@b\tc"}))
    assert items == [Line("a @b c")]


@pytest.mark.parametrize("bad, message", [
    ({"kind": "nope", "blocks": []}, "unknown receipt kind"),
    ({"kind": "test"}, "list of blocks"),
    (doc({"t": "barcode"}), "block 0: unknown block"),
    (doc({"t": "text", "text": "x", "align": "middle"}), "align"),
    (doc({"t": "text", "text": "x", "size": "huge"}), "size"),
    (doc({"t": "text", "text": 5}), "must be a string"),
    (doc({"t": "feed", "n": 300}), "feed n"),
    (doc({"t": "qr", "data": ""}), "non-empty"),
])
def test_bad_documents_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        layout(bad)


def test_yen_sign_is_printed_as_its_gbk_full_width_form():
    [line] = layout(doc({"t": "kv", "k": "实收 Paid", "v": "¥123.45"}))
    assert line.text.endswith("￥123.45") and text_width(line.text) == COLUMNS
    assert all(printable(c) for c in line.text)
