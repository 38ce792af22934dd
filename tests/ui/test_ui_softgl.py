"""Which GL renderers the app waits for after each frame (terminal/ui/softgl.py): Mesa's
software rasterisers, by the names their `GL_RENDERER` strings carry; a handheld's GPU
driver is left to overlap its frames. What the wait does to the heap is shown on the real
app in tests/ui/test_ui_field_walk_list.py."""
import pytest

from terminal.ui import softgl


@pytest.mark.parametrize("renderer", [
    b"llvmpipe (LLVM 15.0.6, 256 bits)", b"Softpipe", b"Mesa X11 swrast"])
def test_mesa_software_renderers_are_waited_for(renderer):
    assert softgl.is_software(renderer)


@pytest.mark.parametrize("renderer", [
    b"Mali-G52", b"Adreno (TM) 610", b"PowerVR Rogue GE8320", b"Mesa Intel(R) UHD Graphics 620 (KBL GT2)"])
def test_gpu_drivers_are_left_alone(renderer):
    assert not softgl.is_software(renderer)
