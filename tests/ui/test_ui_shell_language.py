"""Scenario 8: a Chinese screen renders real glyphs (checked on the screenshot against the
same text drawn with Kivy's bundled font, which has no CJK glyphs and draws boxes), then
English everywhere after the switch, remembered by the store."""
import kivy
from kivy.uix.label import Label
from PIL import Image, ImageChops, ImageStat
from pathlib import Path

ROBOTO = str(Path(kivy.__file__).parent / "data" / "fonts" / "Roboto-Regular.ttf")


def _ink(img: Image.Image) -> Image.Image:
    return img.convert("L")


def _render(label: Label, font_name: str) -> Image.Image:
    """The label's text drawn by Kivy with `font_name`, as the window shows it (white on black)."""
    probe = Label(text=label.text, font_name=font_name, font_size=label.font_size,
                  text_size=label.text_size, halign=label.halign, valign=label.valign,
                  size=label.size, bold=label.bold)
    probe.texture_update()
    tex = probe.texture
    img = Image.frombytes("RGBA", tex.size, tex.pixels)   # label textures are top row first
    black = Image.new("RGBA", img.size, (0, 0, 0, 255))
    return _ink(Image.alpha_composite(black, img))


def _crop(shot: Path, label: Label) -> Image.Image:
    """The label's texture area cut out of a window screenshot."""
    img = Image.open(shot)
    w, h = label.texture_size
    x, y = label.to_window(label.center_x - w / 2, label.center_y - h / 2)
    x, y = int(round(x)), int(round(y))
    top = img.height - (y + h)
    return _ink(img.crop((x, top, x + int(w), top + int(h))))


def _mask(img: Image.Image) -> Image.Image:
    return img.point(lambda p: 255 if p > 60 else 0)


def _trim(img: Image.Image) -> Image.Image:
    return img.crop(_mask(img).getbbox())


def _diff(a: Image.Image, b: Image.Image) -> float:
    """Mean difference of the ink masks (colour-independent), 0..255, aligned on their ink."""
    a, b = _trim(a), _trim(b)
    if a.size != b.size:
        b = b.resize(a.size)
    return ImageStat.Stat(ImageChops.difference(_mask(a), _mask(b))).mean[0]


def _glyphs(img: Image.Image) -> list[Image.Image]:
    """The inked column runs of a one-line text image, each trimmed to its ink."""
    mask = img.point(lambda p: 255 if p > 60 else 0)
    w, h = mask.size
    px = mask.load()
    inked = [any(px[x, y] for y in range(h)) for x in range(w)]
    runs, start = [], None
    for x, on in enumerate(inked + [False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            piece = mask.crop((start, 0, x, h))
            runs.append(piece.crop(piece.getbbox()))
            start = None
    return runs


def _halves_differ(img: Image.Image) -> float:
    """How different the first two drawn characters are (0 = identical, e.g. two tofu boxes)."""
    first, second = _glyphs(img)[:2]
    if first.size != second.size:
        return 255.0
    return _diff(first, second)


def test_chinese_glyphs_render_and_english_switch(gateway, make_ui):
    ui = make_ui(gateway=gateway, enrol=True, language="zh")
    ui.wait_screen("login")
    label = ui.find("工号")                     # the "Operator number" caption, in Chinese
    assert label.text == "工号"
    shot = ui.shot("login-zh")
    on_screen = _crop(shot, label)
    real = _render(label, label.font_name)      # the registered CJK default font
    tofu = _render(label, ROBOTO)               # Kivy's own font: missing-glyph boxes
    # the boxes drawn by a font without CJK glyphs are the same for both characters …
    assert _halves_differ(tofu) < 1.0
    # … while the screen shows two different glyphs, matching the CJK rendering, not the boxes
    assert _halves_differ(on_screen) > 5.0
    print("diff to CJK rendering", _diff(on_screen, real), "to boxes", _diff(on_screen, tofu))
    assert _diff(on_screen, real) < 20.0        # same glyphs (edges differ with the grey colour)
    assert _diff(on_screen, tofu) > 5 * max(_diff(on_screen, real), 5.0)
    # rare characters outside the BMP in a customer name also render as glyphs, not boxes
    rare = Label(text="𠮷𬌗", font_size=40)
    rare.texture_update()
    assert rare.texture_size[0] > 40

    ui.tap("lang_en")
    ui.wait_for(lambda: ui.app.lang == "en", 5, "English")
    ui.pump(3)
    ui.shot("login-en")
    assert ui.find("Operator number").text == "Operator number"
    assert ui.find("login_button").text == "Log in"
    assert ui.app.status_bar.ids.net.text.endswith(("Online", "Offline"))
    ui.tap("lang_zh")
    ui.wait_for(lambda: ui.app.lang == "zh", 5, "Chinese")
    ui.shot("login-zh-again")
    assert ui.find("login_button").text == "登录"
    ui.tap("lang_en")
    ui.wait_for(lambda: ui.store.get_meta("ui_language") == "en", 10, "language stored")
    assert ui.app.config.get("app", "language") == "en"
