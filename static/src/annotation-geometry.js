// Shapes in image pixels as the annotation layer handles them: boxes, lengths and areas in
// physical units (the server measures again and its figures are the ones stored), hit tests,
// and the GeoJSON a tool produces. Pure functions, no DOM.

/** The rings of a Polygon or the polygons of a MultiPolygon, as arrays of [x, y]. */
export function polygonsOf(geometry) {
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

/** Every vertex of a geometry. */
export function verticesOf(geometry) {
  switch (geometry.type) {
    case "Point": return [geometry.coordinates];
    case "MultiPoint":
    case "LineString": return geometry.coordinates;
    case "Polygon": return geometry.coordinates.flat();
    case "MultiPolygon": return geometry.coordinates.flat(2);
    default: return [];
  }
}

/** [minX, minY, maxX, maxY] of a geometry. */
export function boxOf(geometry) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [x, y] of verticesOf(geometry)) {
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  return [minX, minY, maxX, maxY];
}

function ringArea(ring, sx, sy) {
  let twice = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    twice += (ring[j][0] * sx) * (ring[i][1] * sy) - (ring[i][0] * sx) * (ring[j][1] * sy);
  }
  return Math.abs(twice) / 2;
}

function pathLength(points, sx, sy, closed = false) {
  let total = 0;
  const count = closed ? points.length : points.length - 1;
  for (let i = 0; i < count; i++) {
    const [x0, y0] = points[i];
    const [x1, y1] = points[(i + 1) % points.length];
    total += Math.hypot((x1 - x0) * sx, (y1 - y0) * sy);
  }
  return total;
}

/**
 * Length, area and perimeter of a geometry in the unit of `pixel` ({x, y, unit: "um" | "mm"}),
 * or in pixels without one. An ellipse given as {center, radii} is measured exactly.
 */
export function measure(geometry, pixel, ellipse = null) {
  const sx = pixel?.x ?? 1;
  const sy = pixel?.y ?? 1;
  const unit = pixel?.unit ?? "px";
  if (ellipse) {
    const a = ellipse.radii[0] * sx;
    const b = ellipse.radii[1] * sy;
    const h = ((a - b) / (a + b)) ** 2;
    return {
      [`area_${unit}2`]: Math.PI * a * b,
      [`perimeter_${unit}`]: Math.PI * (a + b) * (1 + (3 * h) / (10 + Math.sqrt(4 - 3 * h))),
    };
  }
  if (geometry.type === "LineString") return { [`length_${unit}`]: pathLength(geometry.coordinates, sx, sy) };
  if (geometry.type === "MultiPoint") return { count: geometry.coordinates.length };
  const polygons = polygonsOf(geometry);
  if (!polygons.length) return {};
  let area = 0;
  let perimeter = 0;
  for (const [outer, ...holes] of polygons) {
    area += ringArea(outer, sx, sy) - holes.reduce((sum, hole) => sum + ringArea(hole, sx, sy), 0);
    perimeter += pathLength(outer, sx, sy, true) + holes.reduce((sum, hole) => sum + pathLength(hole, sx, sy, true), 0);
  }
  return { [`area_${unit}2`]: area, [`perimeter_${unit}`]: perimeter };
}

function insideRing(x, y, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function segmentDistance(x, y, [x0, y0], [x1, y1]) {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const length = dx * dx + dy * dy;
  const t = length ? Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / length)) : 0;
  return Math.hypot(x - (x0 + t * dx), y - (y0 + t * dy));
}

/** How far (image pixels) a point is from a geometry's outline or points; 0 inside an area. */
export function distanceTo(geometry, x, y) {
  if (geometry.type === "Point") return Math.hypot(x - geometry.coordinates[0], y - geometry.coordinates[1]);
  if (geometry.type === "MultiPoint") return Math.min(...geometry.coordinates.map(([px, py]) => Math.hypot(x - px, y - py)));
  if (geometry.type === "LineString") {
    let best = Infinity;
    const points = geometry.coordinates;
    for (let i = 1; i < points.length; i++) best = Math.min(best, segmentDistance(x, y, points[i - 1], points[i]));
    return best;
  }
  let best = Infinity;
  for (const [outer, ...holes] of polygonsOf(geometry)) {
    if (insideRing(x, y, outer) && !holes.some((hole) => insideRing(x, y, hole))) return 0;
    for (const ring of [outer, ...holes]) {
      for (let i = 1; i < ring.length; i++) best = Math.min(best, segmentDistance(x, y, ring[i - 1], ring[i]));
    }
  }
  return best;
}

/** A geometry moved by (dx, dy). */
export function moved(geometry, dx, dy) {
  const shift = (points) => points.map(([x, y]) => [x + dx, y + dy]);
  switch (geometry.type) {
    case "Point": return { type: "Point", coordinates: [geometry.coordinates[0] + dx, geometry.coordinates[1] + dy] };
    case "MultiPoint":
    case "LineString": return { type: geometry.type, coordinates: shift(geometry.coordinates) };
    case "Polygon": return { type: "Polygon", coordinates: geometry.coordinates.map(shift) };
    case "MultiPolygon": return { type: "MultiPolygon", coordinates: geometry.coordinates.map((rings) => rings.map(shift)) };
    default: return geometry;
  }
}

/** The geometry with vertex `index` (of verticesOf's order) at (x, y); a ring's first and
 * last vertex move together so it stays closed. */
export function withVertex(geometry, index, x, y) {
  const copy = structuredClone(geometry);
  let seen = 0;
  const visit = (points, closed) => {
    for (let i = 0; i < points.length; i++, seen++) {
      if (seen !== index) continue;
      points[i] = [x, y];
      if (closed && i === 0) points[points.length - 1] = [x, y];
      if (closed && i === points.length - 1) points[0] = [x, y];
    }
  };
  if (copy.type === "Point") copy.coordinates = index === 0 ? [x, y] : copy.coordinates;
  else if (copy.type === "MultiPoint" || copy.type === "LineString") visit(copy.coordinates, false);
  else if (copy.type === "Polygon") copy.coordinates.forEach((ring) => visit(ring, true));
  else if (copy.type === "MultiPolygon") copy.coordinates.forEach((rings) => rings.forEach((ring) => visit(ring, true)));
  return copy;
}

/** A closed ring from points (the first repeated at the end). */
export function ring(points) {
  const closed = points.slice();
  const [fx, fy] = closed[0];
  const [lx, ly] = closed[closed.length - 1];
  if (fx !== lx || fy !== ly) closed.push([fx, fy]);
  return closed;
}

export function rectangle([x0, y0], [x1, y1]) {
  const [left, right] = [Math.min(x0, x1), Math.max(x0, x1)];
  const [top, bottom] = [Math.min(y0, y1), Math.max(y0, y1)];
  return { type: "Polygon", coordinates: [ring([[left, top], [right, top], [right, bottom], [left, bottom]])] };
}

/** An ellipse inscribed in the box of a drag, as {center, radii, rotation} and its outline. */
export function ellipse([x0, y0], [x1, y1], vertices = 64) {
  const center = [(x0 + x1) / 2, (y0 + y1) / 2];
  const radii = [Math.abs(x1 - x0) / 2, Math.abs(y1 - y0) / 2];
  const points = [];
  for (let i = 0; i < vertices; i++) {
    const angle = (2 * Math.PI * i) / vertices;
    points.push([center[0] + radii[0] * Math.cos(angle), center[1] + radii[1] * Math.sin(angle)]);
  }
  return { shape: { center, radii, rotation: 0 }, geometry: { type: "Polygon", coordinates: [ring(points)] } };
}

/** Points closer than `tolerance` to the previous kept one dropped (a brush stroke's jitter). */
export function thinned(points, tolerance) {
  const kept = [points[0]];
  for (const point of points.slice(1)) {
    const [px, py] = kept[kept.length - 1];
    if (Math.hypot(point[0] - px, point[1] - py) >= tolerance) kept.push(point);
  }
  return kept;
}

/** Keeps a point inside the image. */
export function clamp([x, y], width, height) {
  return [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)];
}
