// Small helpers for building the pages' DOM without a framework.

/** An element with an optional class and text. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** An element with properties (and dataset entries under `data`) and children. */
export function build(tag, properties = {}, ...children) {
  const { data, ...rest } = properties;
  const node = Object.assign(document.createElement(tag), rest);
  Object.assign(node.dataset, data ?? {});
  node.append(...children.flat().filter((child) => child != null));
  return node;
}

export function link(text, href, className) {
  return build("a", { href, className: className ?? "", textContent: text });
}

/** A table cell; a non-empty title becomes its tooltip. */
export function cell(content, className, title) {
  const td = element("td", className);
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? "";
  if (title) td.title = title;
  return td;
}

function headerRow(labels) {
  const row = element("tr");
  row.append(...labels.map((label) => Object.assign(element("th", null, label), { scope: "col" })));
  return row;
}

/** A table with a header row and the given body rows. */
export function table(labels, rows, className = "data-table") {
  const head = element("thead");
  head.append(headerRow(labels));
  const body = element("tbody");
  body.append(...rows);
  return build("table", { className }, head, body);
}

export function show(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

/** When an overview picture fails (the image has none), a sentence in its place: the words
 * come from the catalogue, which a stylesheet's ::after text could not. */
export function sayWhenMissing(picture, text) {
  picture.addEventListener("error", () => picture.replaceWith(element("span", "muted small", text)), { once: true });
}
