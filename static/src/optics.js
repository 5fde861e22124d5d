// Magnification and scale, the way a pathologist reads them off a microscope.
// "Image zoom" is screen (CSS) pixels per level-0 image pixel: 1 means 1:1.

export const MAGNIFICATIONS = [1, 10, 20, 40];

/** Reference: at 1× one screen pixel shows 10 µm of tissue, as on a typical monitor-microscope match. */
const MICRONS_PER_SCREEN_PIXEL_AT_1X = 10;
const MAGNIFICATION_WITHOUT_METADATA = 40;

/** The magnification at which the slide's level 0 is shown 1:1. */
export function nativeMagnification(image) {
  if (image.objective_power) return image.objective_power;
  if (image.mpp) return MICRONS_PER_SCREEN_PIXEL_AT_1X / image.mpp[0];
  return MAGNIFICATION_WITHOUT_METADATA;
}

export function imageZoomFor(image, magnification) {
  return magnification / nativeMagnification(image);
}

export function magnificationAt(image, imageZoom) {
  return imageZoom * nativeMagnification(image);
}

/** µm of tissue across one horizontal screen pixel; rotation only matters when pixels are not square. */
export function micronsPerScreenPixel(mpp, imageZoom, rotationDegrees) {
  const radians = (rotationDegrees * Math.PI) / 180;
  const alongScreenX = Math.hypot(mpp[0] * Math.cos(radians), mpp[1] * Math.sin(radians));
  return alongScreenX / imageZoom;
}

/** The longest 1, 2 or 5 × 10^n µm that fits in maxPixels: a bar of roughly maxPixels/2.5 to maxPixels. */
export function niceScaleBar(micronsPerPixel, maxPixels = 200) {
  const limit = micronsPerPixel * maxPixels;
  const decade = 10 ** Math.floor(Math.log10(limit));
  const step = [5, 2, 1].find((s) => s * decade <= limit);
  const microns = step * decade;
  return { microns, pixels: microns / micronsPerPixel };
}
