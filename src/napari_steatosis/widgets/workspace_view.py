"""The napari side of the workspace: one per viewer, it draws the workspace as layers and feeds edits back.

``workspace_of(viewer)`` is the :class:`~napari_steatosis.workspace.Workspace` every dock of
that viewer shares. The view:
- shows the current image, its masks and points as layers tagged ``WORKSPACE_META``, and
  replaces them all when the image changes (the previous results go with them); on a whole slide the
  labels are on its level-0 grid (points always, masks up to :data:`SLIDE_MASK_MAX_PX`), and go into
  the dataset with the regions added from it (Annotate > Add visible region to the dataset);
- pushes edits of those layers into the workspace (paint, points added or moved, data replaced);
- shows each method's result (``result_layer_data``) and removes it when it is cleared;
- adopts an RGB image opened outside the docks (File > Open, File > Open Sample, a script):
  it becomes the workspace's current image (the dataset's record when it is one of its images),
  so every dock and every save follows it;
- binds the annotation keys 1-5 and Ctrl+Shift+S while a dock wants them.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np

from ..errors import SteatosisError
from ..workspace import Workspace
from .jobs import notify_error
from .layers import (
    FIBROSIS_MASK,
    MASK_LAYERS,
    NOT_STEATOSIS_POINTS,
    STEATOSIS_MASK,
    STEATOSIS_POINTS,
    WORKSPACE_META,
    mask_kwargs,
    points_kwargs,
    result_layer_data,
)

_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# A slide larger than this (level 0, px) gets no paintable mask layers, only points: napari keeps a 2-D
# labels layer whole in memory. Masks of such slides are painted on their regions once added to a dataset.
SLIDE_MASK_MAX_PX = 8192 * 8192
KEYS = ("1", "2", "3", "4", "5", "Control-Shift-S")


def view_of(viewer) -> "WorkspaceView":
    view = _VIEWS.get(viewer)
    if view is None:
        view = _VIEWS[viewer] = WorkspaceView(viewer)
        view.adopt_existing()
    return view


def workspace_of(viewer) -> Workspace:
    """The workspace every dock of ``viewer`` shares."""
    return view_of(viewer).ws


def _tag(layer) -> str | None:
    return layer.metadata.get(WORKSPACE_META) if hasattr(layer, "metadata") else None


class WorkspaceView:
    def __init__(self, viewer):
        self._viewer = weakref.ref(viewer)  # the registry is keyed weakly on the viewer: do not keep it alive
        self.ws = Workspace()
        self.brush_size = 10
        self._updating = False
        self._adopting = None
        self._key_users: set = set()
        self.ws.image_changed.connect(self._show_image)
        self.ws.labels_replaced.connect(self._redraw_labels)
        self.ws.result_changed.connect(self._show_result)
        viewer.layers.events.inserted.connect(self._on_inserted)

    @property
    def viewer(self):
        return self._viewer()

    # ------------------------------------------------------------------ image and labels
    def _layers_tagged(self, prefix: str) -> list:
        return [l for l in self.viewer.layers if (_tag(l) or "").startswith(prefix)]

    def layer(self, name: str):
        for l in self.viewer.layers:
            if l.name == name and _tag(l):
                return l
        return None

    def image_layer(self):
        found = self._layers_tagged("image")
        return found[0] if found else None

    def _show_image(self, ws: Workspace) -> None:
        self._updating = True
        try:
            adopted = self._adopting
            for l in self._layers_tagged(""):
                if l is not adopted:
                    self.viewer.layers.remove(l)
            if ws.image is None:
                return
            scale = (ws.pixel_size_um,) * 2 if ws.pixel_size_um else (1.0, 1.0)
            units = ("um", "um") if ws.pixel_size_um else ("pixel", "pixel")
            if adopted is not None:
                if not ws.multiscale and adopted.data is not ws.image:  # show the pixels the docks measure
                    adopted.data = ws.image
                    adopted.reset_contrast_limits()
                adopted.metadata[WORKSPACE_META] = "image"
                adopted.scale = scale
                adopted.units = units
            else:
                self.viewer.add_image(ws.image, name=ws.name, rgb=True, multiscale=ws.multiscale, scale=scale,
                                      units=units, metadata={WORKSPACE_META: "image"})
            if not ws.multiscale or ws.shape[0] * ws.shape[1] <= SLIDE_MASK_MAX_PX:
                for kind in MASK_LAYERS:  # on a slide: its level-0 grid (napari shows a 2-D layer whole)
                    if ws.masks[kind] is None:
                        ws.masks[kind] = np.zeros(ws.shape, np.uint8)  # empty: never written (see Workspace.save)
                    self._add_mask_layer(kind, scale, units)
            self._add_points_layers(scale, units)  # on a slide too: level-0 coordinates
            self.viewer.scale_bar.visible = ws.pixel_size_um is not None  # a µm bar only when the size is known
            self.viewer.reset_view()
        finally:
            self._updating = False
            self.viewer.layers.selection.active = self.image_layer()

    def _add_mask_layer(self, kind: str, scale, units) -> None:
        layer = self.viewer.add_labels(self.ws.masks[kind], scale=scale, units=units,
                                       metadata={WORKSPACE_META: f"mask:{kind}"},
                                       **mask_kwargs(kind))
        layer.brush_size = self.brush_size
        layer.events.paint.connect(lambda e: self._edited())
        layer.events.data.connect(lambda e, layer=layer, kind=kind: self._mask_replaced(kind, layer))

    def _add_points_layers(self, scale, units) -> None:
        for positive, data in ((True, self.ws.points.positive), (False, self.ws.points.negative)):
            layer = self.viewer.add_points(data, scale=scale, units=units, metadata={WORKSPACE_META: "points"},
                                           **points_kwargs(positive))
            layer.events.data.connect(lambda e, layer=layer, positive=positive: self._points_edited(layer, positive))

    def _edited(self) -> None:
        if not self._updating:
            self.ws.mark_dirty()

    def _mask_replaced(self, kind: str, layer) -> None:
        if not self._updating and layer.data is not self.ws.masks[kind]:
            self.ws.set_mask(kind, layer.data)
        elif not self._updating:
            self.ws.mark_dirty()

    def _points_edited(self, layer, positive: bool) -> None:
        if self._updating:
            return
        data = np.asarray(layer.data)[:, -2:]
        self.ws.set_points(**({"positive": data} if positive else {"negative": data}))

    def _redraw_labels(self, what: str) -> None:
        self._updating = True
        try:
            if what == "points":
                for name, data in ((STEATOSIS_POINTS, self.ws.points.positive),
                                   (NOT_STEATOSIS_POINTS, self.ws.points.negative)):
                    if self.layer(name) is not None:
                        self.layer(name).data = data
            else:
                layer = self.layer(MASK_LAYERS[what])
                if layer is not None:
                    layer.data = self.ws.masks[what]
        finally:
            self._updating = False

    def set_brush_size(self, size: int) -> None:
        self.brush_size = size
        for name in (STEATOSIS_MASK, FIBROSIS_MASK):
            if self.layer(name) is not None:
                self.layer(name).brush_size = size

    # ------------------------------------------------------------------ results
    def _show_result(self, method: str) -> None:
        result = self.ws.results.get(method)
        old = self._layers_tagged(f"result:{method}")
        new = result_layer_data(result) if result is not None else []
        self._updating = True
        try:
            if [l.name for l in old] == [kw["name"] for _, kw, _ in new]:
                for layer, (data, kw, _) in zip(old, new):  # same layers: new data, no flicker, keep visibility
                    layer.data = data
                    if "colormap" in kw and hasattr(layer, "colormap") and kind_is_labels(layer):
                        layer.colormap = kw["colormap"]
                return
            for l in old:
                self.viewer.layers.remove(l)
            image = self.image_layer()
            place = dict(scale=tuple(image.scale), units=tuple(image.units)) if image is not None else {}
            for data, kw, kind in new:
                getattr(self.viewer, f"add_{kind}")(data, **place, **kw)
        finally:
            self._updating = False
            if self.image_layer() is not None:
                self.viewer.layers.selection.active = self.image_layer()

    # ------------------------------------------------------------------ images opened elsewhere
    def _on_inserted(self, event) -> None:
        from napari.layers import Image  # noqa: PLC0415

        layer = event.value
        if self._updating or _tag(layer):
            return
        if self._brought_by_sample(layer):
            from qtpy.QtCore import QTimer  # noqa: PLC0415

            QTimer.singleShot(0, lambda: self._drop(layer))  # not while napari is still inserting it
            return
        if not (isinstance(layer, Image) and layer.rgb):
            path = getattr(layer.source, "path", None) if isinstance(layer, Image) and not layer.multiscale else None
            rgb = _colour_of(path)
            if rgb is not None:  # planar RGB or a palette TIFF, which napari's reader shows as grey planes
                from qtpy.QtCore import QTimer  # noqa: PLC0415

                QTimer.singleShot(0, lambda: self._replace(layer, Path(path), rgb))  # not while napari inserts it
            elif path:
                # a grey-scale file: the docks cannot measure it, and must not seem to (they stay on their image)
                stays = f"the docks stay on {self.ws.name}" if self.ws.name else "the docks have no image"
                notify_error(SteatosisError(f"{layer.name} is grey-scale: steatosis and fibrosis are measured on "
                                            f"stained (colour) sections; {stays}"))
            return
        self._adopting = layer
        try:
            self.adopt(layer)
        except Exception as exc:  # noqa: BLE001 (a refused save keeps the previous image; say why)
            notify_error(exc)
        finally:
            self._adopting = None

    def _replace(self, layer, path: Path, rgb) -> None:
        """Show a colour file napari read as grey planes as the docks read it: their RGB layer replaces it."""
        if layer in self.viewer.layers:
            self.viewer.layers.remove(layer)
        try:
            self.ws.open_path(path, image=rgb)
        except Exception as exc:  # noqa: BLE001 (a refused save keeps the previous image; say why)
            notify_error(exc)

    def _brought_by_sample(self, layer) -> bool:
        """A label layer File > Open Sample adds with its image: the workspace shows its own copy."""
        import re  # noqa: PLC0415

        record = layer.metadata.get("steatosis_record")
        base = re.sub(r" \[\d+\]$", "", layer.name)  # napari renames a duplicate "name [1]"
        return (record is not None and self.ws.path is not None and Path(record) == self.ws.path
                and base in (STEATOSIS_MASK, FIBROSIS_MASK, STEATOSIS_POINTS, NOT_STEATOSIS_POINTS))

    def _drop(self, layer) -> None:
        if layer in self.viewer.layers:
            self.viewer.layers.remove(layer)
            if self.image_layer() is not None:
                self.viewer.layers.selection.active = self.image_layer()

    def adopt_existing(self) -> None:
        """When the first dock opens on images opened before it: the selected (or last) RGB image."""
        from napari.layers import Image  # noqa: PLC0415

        rgb = [l for l in self.viewer.layers if isinstance(l, Image) and l.rgb and not _tag(l)]
        if not rgb:
            return
        active = self.viewer.layers.selection.active
        layer = active if active in rgb else rgb[-1]
        self._adopting = layer
        try:
            self.adopt(layer)
        except Exception as exc:  # noqa: BLE001
            notify_error(exc)
        finally:
            self._adopting = None
        for l in list(self.viewer.layers):
            if not _tag(l) and self._brought_by_sample(l):
                self.viewer.layers.remove(l)

    def adopt(self, layer) -> None:
        """Make an RGB layer opened outside the docks the workspace's current image."""
        from ..sample import sample_data_dir  # noqa: PLC0415

        ws = self.ws
        path = layer.metadata.get("steatosis_record") or getattr(layer.source, "path", None)
        image = list(layer.data) if layer.multiscale else layer.data  # as napari holds it (a lazy array stays lazy)
        if layer.multiscale and layer.metadata.get("steatosis_slide"):  # our slide reader: keep its µm scale
            ws.open_image(image, layer.name, layer.metadata.get("pixel_size_um"))
            return
        if path is None:
            ws.open_image(image, layer.name)
            return
        path = Path(path)
        if ws._record_of(path) is None:
            try:
                sample = sample_data_dir()
            except Exception:  # noqa: BLE001
                sample = None
            if sample is not None and path.resolve().parent.parent == sample.resolve():
                ws.open_dataset(sample, first=False, read_only=True)
        if not layer.multiscale and path.is_file():
            # read it again through our reader, as the command line does: a JPEG turned upright by its EXIF tag,
            # 12-bit data in a 16-bit file, RGBA, a stack refused by name; _show_image then shows that array
            image = None
        ws.open_path(path, image=image)

    # ------------------------------------------------------------------ keys
    def bind_keys(self, user, save=None) -> None:
        """Keys 1-5 and Ctrl+Shift+S (``save``, default the workspace's), while at least one dock (``user``) wants them."""
        self._key_users.add(id(user))
        viewer = self.viewer

        def activate(name, mode):
            def handler(viewer):
                layer = self.layer(name)
                if layer is None:
                    return
                viewer.layers.selection.active = layer
                layer.mode = mode
            return handler

        def erase(viewer):
            layer = viewer.layers.selection.active
            if layer is not None and layer.name in (STEATOSIS_MASK, FIBROSIS_MASK):
                layer.mode = "erase"

        def save_key(viewer):
            try:
                (save or self.ws.save)()
            except Exception as exc:  # noqa: BLE001
                notify_error(exc)

        handlers = {"1": activate(STEATOSIS_POINTS, "add"), "2": activate(NOT_STEATOSIS_POINTS, "add"),
                    "3": activate(STEATOSIS_MASK, "paint"), "4": activate(FIBROSIS_MASK, "paint"), "5": erase,
                    "Control-Shift-S": save_key}
        for key, handler in handlers.items():
            viewer.bind_key(key, handler, overwrite=True)

    def unbind_keys(self, user) -> None:
        self._key_users.discard(id(user))
        if self._key_users:
            return
        for key in KEYS:
            self.viewer.bind_key(key, None, overwrite=True)


def _colour_of(path) -> np.ndarray | None:
    """The RGB our reader makes of an image file that napari's reader showed as planes (planar RGB, a palette
    TIFF), when it is in colour; None for a grey or unreadable file, or none at all."""
    import warnings  # noqa: PLC0415

    from ..data.images import IMAGE_SUFFIXES, read_image  # noqa: PLC0415

    if not path or Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    try:
        with warnings.catch_warnings():  # said when the docks read it
            warnings.simplefilter("ignore")
            rgb = read_image(path)
    except SteatosisError:
        return None
    grey = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    return None if grey else rgb


def slide_on_screen(view: "WorkspaceView"):
    """``(slide path, slide layer)`` of the current image, a slide of our reader; else a clear message."""
    from ..errors import SteatosisError  # noqa: PLC0415

    ws, layer = view.ws, view.image_layer()
    slide_path = layer.metadata.get("steatosis_slide") if layer is not None else None
    if not ws.multiscale or slide_path is None:
        raise SteatosisError("open a whole slide first (File > Open, or File > Open Sample > liver whole slide)")
    return Path(slide_path), layer


def visible_region(view: "WorkspaceView"):
    """``(slide path, level-0 Region on screen, slide layer)`` for the current image, a slide of our reader."""
    from ..slide_region import visible_box  # noqa: PLC0415

    slide_path, layer = slide_on_screen(view)
    cam = view.viewer.camera
    region = visible_box(cam.center, cam.zoom, view.viewer.canvas.size, view.ws.shape, layer.scale, layer.translate)
    return slide_path, region, layer


def plain_click(view: "WorkspaceView", event, handler) -> None:
    """The body of a napari mouse-drag callback: ``handler((row, col))`` for a plain left click
    (no drag, no modifier) on the current image; a drag pans the view and edits nothing."""
    layer = view.image_layer()
    if layer is None or getattr(event, "button", 1) != 1 or getattr(event, "modifiers", ()):
        return
    point = np.asarray(layer.world_to_data(event.position))[-2:]
    yield  # wait for the release
    moved = False
    while getattr(event, "type", "mouse_release") == "mouse_move":
        moved = True
        yield
    if not moved:
        handler(point)


def kind_is_labels(layer) -> bool:
    from napari.layers import Labels  # noqa: PLC0415

    return isinstance(layer, Labels)
