"""The route walk's list parts that know nothing of accounts: a cache of one-line text
textures the rows draw, a RecycleBoxLayout of equal-height rows placed by arithmetic, and a
RecycleView clipped by a scissor box.

Rows draw their texts as textures from the cache keyed by text, one texture per text, and
a texture is re-filled for another text only once no recent frame draws it: re-filling a
texture that a frame still in the GL driver's hands draws makes the driver wait for that
frame (Mesa's llvmpipe: 5–90 ms), which was the cost of every row scrolled into view when
each row held its own Labels, and later of the spare texture a row had just given back.
"""
from collections import OrderedDict
from collections.abc import Sequence

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.core.text.markup import MarkupLabel
from kivy.core.window import Window
from kivy.graphics import ScissorPop, ScissorPush, StencilPop, StencilPush, StencilUnUse, StencilUse
from kivy.uix.recycleboxlayout import RecycleBoxLayout
from kivy.uix.recycleview import RecycleView

from terminal.ui import fonts, heap

TEXTURE_CACHE_SIZE = 72    # the ~55 texts on screen and a few spare
TEXTURE_CACHE_MAX = 120    # room for spares that rest while a fling releases texts fast
QUIET_FRAMES = 3           # frames a texture rests, drawn by none, before it is re-filled


class TextTextures:
    """White one-line text textures (tinted by a Color when drawn) of a fixed width per
    style, one per (text, size, width, halign), counted by the rows that show them.

    Beyond `limit` entries a spare (no row shows it) of the same style is re-filled: its
    label is re-rendered for the new text into the same texture. Only a spare that no
    frame has drawn for `quiet` frames is re-filled, the longest-resting first: re-filling
    one that a frame still in the GL driver's hands draws makes the driver wait for that
    frame (Mesa's llvmpipe: 20–90 ms a frame, measured, against 1–3 ms for a frame that
    re-fills none). A row scrolled out gives its texts back in the very frame that the row
    coming in takes new ones, so the texts just given back were drawn by the frame
    before. While no spare has rested long enough, the cache makes new textures up to
    `most` entries, and only past that re-fills a recently drawn one. Textures are not made
    and dropped while scrolling: in the GL driver each one made costs memory that stays."""

    def __init__(self, limit: int = TEXTURE_CACHE_SIZE, most: int = TEXTURE_CACHE_MAX,
                 quiet: int = QUIET_FRAMES):
        self.limit, self.most, self.quiet = limit, max(limit, most), quiet
        self._cache = {}              # key → kivy.core.text.Label holding the texture
        self._users = {}              # key → rows showing it
        self._spare = OrderedDict()   # key shown by no row → frame it was given back
        self.refills = self.fresh = self.hot_refills = 0   # counts, for tests and the benchmark

    def clear(self) -> None:
        """Forget every texture (a new app in this process: the rows that counted as showing
        them are gone, and would otherwise hold them for good)."""
        self._cache.clear()
        self._users.clear()
        self._spare.clear()

    def acquire(self, text: str, font_size: float, width: float, halign: str = "left"):
        """(key, texture) for the text, counted as shown until release(key)."""
        if not text:
            return None, None
        key = (text, font_size, int(width), halign)
        label = self._cache.get(key)
        if label is None:
            label = self._make(key)
        self._spare.pop(key, None)
        self._users[key] = self._users.get(key, 0) + 1
        return key, label.texture

    def release(self, key) -> None:
        if key is not None and key in self._users:
            self._users[key] -= 1
            if self._users[key] <= 0:
                del self._users[key]
                self._spare[key] = Clock.frames

    def _make(self, key):
        text, font_size, width, halign = key
        label = None
        rested = Clock.frames - self.quiet     # a spare given back by then has rested
        full = len(self._cache) >= self.most   # past `most`: even a recently drawn one
        spare = next(iter(self._spare), None)  # the longest-resting spare
        if len(self._cache) >= self.limit and spare is not None and \
                (self._spare[spare] <= rested or full):
            same = next((k for k, since in self._spare.items()
                         if k[1:] == key[1:] and (since <= rested or full)), None)
            if same is not None:
                label = self._cache.pop(same)
                self.hot_refills += self._spare.pop(same) > rested
            else:
                del self._cache[spare]
                del self._spare[spare]
        marked = fonts.markup(text)          # rare characters: runs in the fallback fonts
        cls = CoreLabel if "[font=" not in marked else MarkupLabel
        if label is None or label.__class__ is not cls:
            label = cls(font_size=font_size, text_size=(max(1, width), None),
                        shorten=True, shorten_from="right", halign=halign)
            self.fresh += 1
        else:
            self.refills += 1
        label.text = text if cls is CoreLabel else marked
        label.refresh()
        self._cache[key] = label
        return label


TEXTURES = TextTextures()


class _Rows(Sequence):
    """The layout's per-row options (`view_opts`), worked out when asked for: every row
    is the layout's width by one row height, so nothing is kept per row."""

    def __init__(self, layout, count: int):
        self.layout, self.count = layout, count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        lay = self.layout
        left, top, right, _bottom = lay.padding
        pitch = lay.row_height + lay.spacing
        y = lay.top - top - index * pitch - lay.row_height
        return {"size": [lay.width - left - right, lay.row_height], "size_hint": [1, None],
                "size_hint_min": [None, None], "size_hint_max": [None, None],
                "pos": [lay.x + left, y], "pos_hint": {}, "viewclass": lay.viewclass,
                "width_none": True, "height_none": False}


class WalkLayout(RecycleBoxLayout):
    """A vertical RecycleBoxLayout of rows all `default_size[1]` high (the walk rows):
    positions are arithmetic, so handing it 5,000 rows costs nothing per row. Kivy's own
    builds a dict of size options and a position for every row and lays them all out on
    every data change (~170 ms for a 5,000-account route here) and finds the rows in view
    by scanning those positions."""

    @property
    def row_height(self):
        return self.default_size[1]

    def compute_sizes_from_data(self, data, flags):
        self.clear_layout()
        self.view_opts = _Rows(self, len(data))

    def compute_layout(self, data, flags):
        self._size_needs_update = False
        if flags and all(flags):
            return      # only a view's size changed: the rows' sizes are fixed
        self.clear_layout()
        self.view_opts = _Rows(self, len(data))
        n = len(data)
        left, top, right, bottom = self.padding
        rows = n * self.row_height + max(0, n - 1) * self.spacing
        self.minimum_size = left + right, top + bottom + rows

    def get_view_index_at(self, pos):
        n = len(self.view_opts)
        if not n:
            return 0
        offset = self.top - self.padding[1] - pos[1]
        return min(n - 1, max(0, int(offset // (self.row_height + self.spacing))))

    def compute_visible_views(self, data, viewport):
        if not data or not len(self.view_opts):
            return []
        x, y, _w, h = viewport
        return list(range(self.get_view_index_at((x, y + h)), self.get_view_index_at((x, y)) + 1))


class WalkList(RecycleView):
    """The account list: a RecycleView clipped by a scissor box instead of the stencil
    buffer. A StencilView draws its whole area twice into the stencil buffer and tests
    every pixel of the rows against it on every frame; a scissor box (a rectangle in
    window coordinates, kept in step with the list's position) costs the rasteriser
    nothing.

    Once the list has been scrolled and then no frame has been drawn for `REST_S` (the
    scroll bar's fade ends after the scroll), it gives the heap's free pages back
    (terminal/ui/heap.py): rendering the texts of the rows scrolled through, and the GL
    driver's per-frame buffers, leave freed memory resident. `rest_trim` is the pending
    give-back; `trims` counts them."""
    REST_S = 0.5

    def __init__(self, **kw):
        super().__init__(**kw)
        self.trims, self._moved = 0, False
        self.rest_trim = Clock.create_trigger(self._trim, self.REST_S)
        self.fbind("scroll_y", self._scrolled)
        Window.bind(on_flip=self._drawn)      # a weak reference: the list may go
        self._drop_stencil(self.canvas.before, StencilPush, StencilUse)
        self._drop_stencil(self.canvas.after, StencilUnUse, StencilPop)
        self._scissor = ScissorPush()
        self.canvas.before.add(self._scissor)
        self.canvas.after.add(ScissorPop())
        self.fbind("pos", self._clip)
        self.fbind("size", self._clip)
        self.fbind("parent", self._follow)

    def _follow(self, *_):
        """Re-clip when any ancestor moves (the screen's layout, a banner above it)."""
        widget = self.parent
        while widget is not None and widget is not widget.parent:
            widget.fbind("pos", self._clip)
            widget.fbind("size", self._clip)
            widget = widget.parent
        self._clip()

    @staticmethod
    def _drop_stencil(group, first, last):
        """Remove `first`, the mask Rectangle and `last` that StencilView's rule added."""
        children = list(group.children)
        for i, ins in enumerate(children):
            if isinstance(ins, first):
                for j in range(i, len(children)):
                    group.remove(children[j])
                    if isinstance(children[j], last):
                        return

    def _clip(self, *_):
        x, y = self.to_window(self.x, self.y)
        s = self._scissor
        s.x, s.y, s.width, s.height = int(x), int(y), int(self.width), int(self.height)

    def _scrolled(self, *_):
        self._moved = True
        self._drawn()

    def _drawn(self, *_):
        if self._moved:
            self.rest_trim.cancel()
            self.rest_trim()

    def _trim(self, *_):
        heap.trim()
        self._moved = False
        self.trims += 1
