// The seam between a viewer and what is drawn on its image: an image surface.
//
// Each viewer offers the same few things, and the annotation layer (and later the live
// cursors and follow mode) works on any of them:
//   matrix()            [a, b, c, d, e, f]: screen = (a·x + c·y + e, b·x + d·y + f), in CSS
//                       pixels of the stage, for image pixel (x, y), as the view is now;
//   onChange(listener)  called on every view change (pan, zoom, rotation, mirroring, frame);
//   frame()             the frame on screen (series) or null (slides);
//   pixel               the physical size of an image pixel {x, y, unit: "um" | "mm"} or null;
//   zoomAt(factor, sx, sy), panBy(dx, dy), fit([x0, y0, x1, y1]) to move the view;
//   ownWheel            true when the viewer's stage handles the wheel itself.

/** The matrix of an affine map given as a function from image to screen points. */
export function matrixOf(toScreen) {
  const [ex, ey] = toScreen(0, 0);
  const [xx, xy] = toScreen(1024, 0);
  const [yx, yy] = toScreen(0, 1024);
  return [(xx - ex) / 1024, (xy - ey) / 1024, (yx - ex) / 1024, (yy - ey) / 1024, ex, ey];
}

/** The surface of an OpenSeadragon slide viewer showing one image. */
export function slideSurface(viewer, image) {
  const OSD = globalThis.OpenSeadragon;
  const listeners = new Set();
  const tiled = () => viewer.world.getItemAt(0);
  const toScreen = (x, y) => {
    const item = tiled();
    if (!item) return [x, y];
    const point = viewer.viewport.viewportToViewerElementCoordinates(item.imageToViewportCoordinates(x, y, true));
    return [point.x, point.y];
  };
  const notify = () => listeners.forEach((listener) => listener());
  for (const event of ["update-viewport", "resize", "rotate", "flip", "open"]) viewer.addHandler(event, notify);
  return {
    matrix: () => matrixOf(toScreen),
    onChange: (listener) => listeners.add(listener),
    frame: () => null,
    pixel: image.mpp ? { x: image.mpp[0], y: image.mpp[1], unit: "um" } : null,
    zoomAt(factor, sx, sy) {
      viewer.viewport.zoomBy(factor, viewer.viewport.pointFromPixel(new OSD.Point(sx, sy), true));
      viewer.viewport.applyConstraints();
    },
    panBy(dx, dy) {
      viewer.viewport.panBy(viewer.viewport.deltaPointsFromPixels(new OSD.Point(-dx, -dy)));
    },
    fit([x0, y0, x1, y1]) {
      const item = tiled();
      if (!item) return;
      viewer.viewport.fitBoundsWithConstraints(item.imageToViewportRectangle(x0, y0, x1 - x0, y1 - y0));
    },
  };
}

/** The surface of the series viewer's own canvas (frames, rotation and mirroring included). */
export function seriesSurface(seriesViewer) {
  const canvas = seriesViewer.canvas;
  const spacing = seriesViewer.spacing;
  return {
    matrix: () => matrixOf((x, y) => canvas.imageToScreen(x, y)),
    onChange: (listener) => seriesViewer.viewListeners.add(listener),
    frame: () => seriesViewer.shown?.k ?? seriesViewer.target,
    ownWheel: true, // the wheel moves through the frames, over the drawing too
    pixel: spacing ? { x: spacing[1], y: spacing[0], unit: "mm" } : null,
    zoomAt(factor, sx, sy) {
      canvas.zoomBy(factor, sx, sy);
      seriesViewer.viewChanged();
    },
    panBy(dx, dy) {
      canvas.panBy(dx, dy);
      seriesViewer.viewChanged();
    },
    fit([x0, y0, x1, y1]) {
      const width = Math.max(x1 - x0, 1) * canvas.sx;
      const height = Math.max(y1 - y0, 1) * canvas.sy;
      canvas.scale = Math.min(canvas.width / width, canvas.height / height);
      canvas.centreOn(((x0 + x1) / 2) * canvas.sx, ((y0 + y1) / 2) * canvas.sy);
      canvas.constrain();
      seriesViewer.viewChanged();
    },
  };
}
