"""The CJK font: found on this machine and registered as Kivy's default (every label uses
it), an override that points nowhere is reported as missing instead of drawing tofu."""
from pathlib import Path

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.uix.label import Label

from terminal.ui import fonts


def test_cjk_font_is_the_default():
    path = fonts.find("regular")
    assert path and Path(path).is_file() and "CJK" in Path(path).name
    assert LabelBase._fonts[DEFAULT_FONT][0] == path
    label = Label(text="王𠮷")
    label.texture_update()
    assert label.texture_size[0] > 0


def test_missing_font_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAOSHOU_CJK_FONT", str(tmp_path / "nope.ttc"))
    assert fonts.find("regular") is None
    assert "fonts-noto-cjk" in fonts.MISSING_MESSAGE and "中文字体" in fonts.MISSING_MESSAGE
