"""Every customer's name on screen and on paper (生僻字): a name with a character from each
CJK block, Extension A to H, is drawn on the account screen and in the walk list of the
real app, and as a receipt's raster line, and no character is drawn as its font's .notdef
(the missing-glyph box). The font of each character is read back from what was drawn (the
label's markup runs; the renderer's chain), and checked with fontTools' cmap of that font.
"""
from __future__ import annotations

import functools

import pytest
from fontTools.ttLib import TTFont
from kivy.core.text import Label as CoreLabel
from kivy.core.text.markup import MarkupLabel

from devices.printer import fonts as paper_fonts
from devices.printer.escpos_render import glyph, render
from terminal.ui import fonts as screen_fonts

# one name per block; the rare character is the last one
NAMES = {
    "Ext A": "林㐱",          # U+3431
    "Ext B": "王𡒄",          # U+21484, the name from the field's complaint
    "Ext C": "张𪜀",          # U+2A700
    "Ext D": "李𫝀",          # U+2B740
    "Ext E": "陈𫠠",          # U+2B820
    "Ext F": "刘𬺰",          # U+2CEB0
    "Ext G": "赵𰻞",          # U+30EDE
    "Ext H": "孙𱍐",          # U+31350
}
NOT_A_CHARACTER = chr(0x10FFFD)   # a private-use code point no font maps: drawn as .notdef


@functools.lru_cache(maxsize=None)
def cmap(path: str) -> dict:
    with TTFont(path, fontNumber=0, lazy=True) as font:
        return font.getBestCmap()


def screen_runs(marked: str) -> list[tuple[str | None, str]]:
    """(font path or None for the default font, text) of Kivy markup made by fonts.markup."""
    out, rest = [], marked
    while rest:
        start = rest.find("[font=")
        if start != 0:
            plain = rest if start < 0 else rest[:start]
            out.append((None, plain))
            rest = "" if start < 0 else rest[start:]
            continue
        end = rest.index("]")
        close = rest.index("[/font]")
        out.append((rest[6:end], rest[end + 1:close]))
        rest = rest[close + 7:]
    return out


def kivy_pixels(text: str, font: str) -> bytes:
    label = CoreLabel(text=text, font_size=40, font_name=font)
    label.refresh()
    return bytes(label.texture.pixels)


def test_rare_names_on_screen(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001", gateway=gateway)
    accounts = [r["account_no"] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT ?",
        (len(NAMES),))]
    with ui.store.conn:
        for account_no, name in zip(accounts, NAMES.values()):
            ui.store.conn.execute("UPDATE accounts SET name=? WHERE account_no=?",
                                  (name, account_no))
    default = screen_fonts.registered
    assert default
    for (block, name), account_no in zip(NAMES.items(), accounts):
        ui.go("home")
        account = ui.go("account", account_no=account_no)
        ui.wait_for(lambda: account.loaded and account.name_text == name, 10, f"{block} account")
        label = account.ids.name
        ui.wait_for(lambda: label.texture is not None and label.texture_size[0] > 0, 10,
                    f"{block} name drawn")
        ui.shot(f"name-{block.replace(' ', '')}")
        runs = screen_runs(label.text)
        assert "".join(text for _, text in runs) == name
        for font, text in runs:
            font = font or default
            for ch in text:
                assert ord(ch) in cmap(font), f"{block}: {ch} drawn with {font}, which lacks it"
                assert kivy_pixels(ch, font) != kivy_pixels(NOT_A_CHARACTER, font), \
                    f"{block}: {ch} drawn as .notdef"
        # the default font alone draws the rare character as .notdef; the label does not
        rare = name[-1]
        if ord(rare) not in cmap(default):
            assert kivy_pixels(rare, default) == kivy_pixels(NOT_A_CHARACTER, default)
            assert any(font for font, text in runs if rare in text)

    # the walk list draws the names too, through its texture cache
    walk = ui.go("walk")
    ui.wait_for(lambda: walk.ids.rv.data and walk.ids.rv.children[0].children, 15, "walk list")
    row = ui.wait_for(lambda: next((v for v in walk.ids.rv.children[0].children
                                    if v.account_no == accounts[1]), None), 10, "row drawn")
    ui.shot("walk-rare-names")
    from terminal.ui.screens.walk import TEXTURES
    drawn = [label for key, label in TEXTURES._cache.items() if key[0].startswith(NAMES["Ext B"])]
    assert drawn and all(isinstance(label, MarkupLabel) for label in drawn), row.name


@pytest.mark.parametrize("block", list(NAMES))
def test_rare_names_on_paper(block):
    name = NAMES[block]
    chain = paper_fonts.font_chain()
    data = render({"kind": "collection", "blocks": [{"t": "kv", "k": "户名 Name", "v": name}]})
    assert data.count(b"\x1dv0") == 1                      # the name line as a raster image
    for ch in name:
        font = paper_fonts.font_for(ch, chain)
        assert ord(ch) in cmap(font), f"{ch} printed with {font}, which lacks it"
        drawn = glyph(ch).tobytes()
        assert drawn != bytes([255]) * len(drawn), f"{block}: {ch} left blank"
        assert drawn != glyph(NOT_A_CHARACTER).tobytes(), f"{block}: {ch} as the .notdef"
        for other in chain:
            assert drawn != _cell_with(NOT_A_CHARACTER, other), f"{block}: {ch} as {other}'s .notdef"


def _cell_with(ch: str, font_path: str) -> bytes:
    """`ch` drawn in a printer cell with the font at `font_path` (as glyph() draws)."""
    from PIL import Image, ImageDraw, ImageFont
    cell = Image.new("L", (24, 24), 255)
    ImageDraw.Draw(cell).text((0, 21), ch, fill=0, anchor="ls",
                              font=ImageFont.truetype(font_path, 24))
    return cell.tobytes()
