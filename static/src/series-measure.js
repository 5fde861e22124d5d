// Distances on a frame: a line between two image points, its length in millimetres from the
// pixel spacing ([row, col]: the height and width of a pixel), drawn over the image.
import { number } from "./window-level.js";
import { t } from "./i18n.js";

/** Length of the line a→b (image pixel coordinates) as text: "12,3 mm" in Swedish, or
 * pixels without a spacing. */
export function lengthText(a, b, spacing) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  if (!spacing) return t("series.measure.pixels", { length: number(Math.hypot(dx, dy), 1) });
  const [rowMm, colMm] = spacing;
  return t("series.measure.mm", { length: number(Math.hypot(dx * colMm, dy * rowMm), 1) });
}

export function lengthMm(a, b, spacing) {
  if (!spacing) return null;
  return Math.hypot((b[0] - a[0]) * spacing[1], (b[1] - a[1]) * spacing[0]);
}

/** Draws measurements ({a, b} in image pixels) on the stage's canvas in screen space. */
export function drawMeasurements(canvas, measurements, spacing) {
  if (!measurements.length) return;
  const context = canvas.context;
  context.save();
  context.setTransform(canvas.ratio, 0, 0, canvas.ratio, 0, 0);
  context.font = "600 13px system-ui, 'DejaVu Sans', sans-serif";
  context.lineCap = "round";
  for (const { a, b } of measurements) {
    const [ax, ay] = canvas.imageToScreen(a[0], a[1]);
    const [bx, by] = canvas.imageToScreen(b[0], b[1]);
    context.strokeStyle = "rgb(0 0 0 / 70%)";
    context.lineWidth = 3.5;
    context.beginPath();
    context.moveTo(ax, ay);
    context.lineTo(bx, by);
    context.stroke();
    context.strokeStyle = "#ffd75e";
    context.lineWidth = 1.5;
    context.stroke();
    for (const [x, y] of [[ax, ay], [bx, by]]) {
      context.beginPath();
      context.arc(x, y, 3, 0, 2 * Math.PI);
      context.fillStyle = "#ffd75e";
      context.fill();
    }
    const text = lengthText(a, b, spacing);
    const [tx, ty] = [Math.max(ax, bx) + 8, (ay + by) / 2];
    context.fillStyle = "#000";
    context.fillText(text, tx + 1, ty + 1);
    context.fillStyle = "#ffd75e";
    context.fillText(text, tx, ty);
  }
  context.restore();
}
