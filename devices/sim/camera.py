"""A simulated camera: a real JPEG of an electricity meter's face showing the keyed digits
(drawn with Pillow: a grey housing, a black register window, white digit wheels, noise
like a sensor's), so the photo path from the camera to the gateway is exercised whole."""
from __future__ import annotations

import random
import threading
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from devices.printer.fonts import cjk_font

__all__ = ["SimulatedCamera", "meter_face"]


def meter_face(digits: str, size=(1600, 1200), seed: int | None = None) -> Image.Image:
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, (rng.randint(90, 120),) * 3)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((w * 0.1, h * 0.1, w * 0.9, h * 0.9), radius=40, fill=(215, 215, 205))
    d.text((w * 0.5, h * 0.2), "电能表  kWh", fill=(30, 30, 30), anchor="mm", font=cjk_font(72))
    digits = (digits or "0")[-8:].rjust(6, "0")
    cell = int(w * 0.6 / len(digits))
    x0, y0 = int(w * 0.2), int(h * 0.4)
    d.rectangle((x0 - 12, y0 - 12, x0 + cell * len(digits) + 12, y0 + int(cell * 1.5) + 12),
                fill=(10, 10, 10))
    for i, ch in enumerate(digits):
        x = x0 + i * cell
        d.rectangle((x + 6, y0, x + cell - 6, y0 + int(cell * 1.5)), fill=(245, 245, 240))
        d.text((x + cell / 2, y0 + cell * 0.75), ch, fill=(0, 0, 0), anchor="mm",
               font=cjk_font(int(cell * 1.1)))
    noise = Image.effect_noise(size, 24).convert("RGB")
    return Image.blend(img, noise, 0.08).filter(ImageFilter.GaussianBlur(0.6))


class SimulatedCamera:
    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.taken = 0

    def take(self, dest: Path, on_done, hint: str = "") -> None:
        def shoot():
            path = Path(dest)
            path.parent.mkdir(parents=True, exist_ok=True)
            meter_face(hint, seed=self.seed).save(path, "JPEG", quality=92)
            self.taken += 1
            on_done(path)
        threading.Thread(target=shoot, name="sim-camera", daemon=True).start()
