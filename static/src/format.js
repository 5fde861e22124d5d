// How samsyn writes numbers for pathologists: grouped digits, µm and mm, magnifications.

const NARROW_SPACE = "\u202f";

export function groupDigits(n) {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, NARROW_SPACE);
}

export function pixelSize(width, height) {
  return `${groupDigits(width)} × ${groupDigits(height)} px`;
}

/** Physical extent of the scanned area, e.g. "23.0 × 16.4 mm"; null without a pixel size. */
export function physicalSize(width, height, mpp) {
  if (!mpp) return null;
  const mm = (pixels, micronsPerPixel) => ((pixels * micronsPerPixel) / 1000).toFixed(1);
  return `${mm(width, mpp[0])} × ${mm(height, mpp[1])} mm`;
}

export function micronsPerPixel(mpp) {
  if (!mpp) return null;
  const [x, y] = mpp.map((v) => Number(v.toPrecision(3)));
  return x === y ? `${x} µm/px` : `${x} × ${y} µm/px`;
}

/** A length for a scale bar: µm below one millimetre, mm from there on. */
export function length(microns) {
  const tidy = (v) => Number(v.toPrecision(3));
  return microns < 1000 ? `${tidy(microns)} µm` : `${tidy(microns / 1000)} mm`;
}

export function magnification(m) {
  return m >= 100 ? `${Math.round(m)}×` : `${m.toFixed(1)}×`;
}

export function objectivePower(power) {
  return power ? `${Number(power.toPrecision(3))}×` : null;
}

export function bytes(n) {
  if (n == null) return null;
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toPrecision(3)} ${units[unit]}`;
}
