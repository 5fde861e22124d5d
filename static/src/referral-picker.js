// Picking a receiving unit or a person from the directory while typing (GET /api/directory,
// the search the share form uses): a combobox over a list of suggestions.
import { getJson } from "./api.js";
import { build, element } from "./dom.js";
import { t } from "./i18n.js";

const SEARCH_FROM = 3;

/** Suggestions of the kinds wanted ("unit", "user"): {kind, value, label, detail}. A unit is
 * sent by its HSA-id (names may repeat between organisations), a person by username. */
function suggestions(found, kinds) {
  const units = found.units.map((unit) => ({
    kind: "unit", value: unit.hsa_id || unit.name, label: unit.name, detail: `${t("referrals.send.kind.unit")} · ${unit.org}`,
  }));
  const people = found.people.map((person) => ({
    kind: "user", value: person.username, label: person.name,
    detail: [person.username, person.unit, person.org].filter(Boolean).join(" · "),
  }));
  return [...units, ...people].filter((entry) => kinds.includes(entry.kind));
}

/**
 * Makes `input` search the directory; `list` (a <ul>) shows what was found. `onChoose(entry)`
 * runs when one is picked; typing again forgets the choice (`onChoose(null)`).
 */
export function directoryPicker(input, list, { kinds, onChoose }) {
  let asked = 0;
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  };
  const choose = (entry) => {
    input.value = entry.label;
    onChoose(entry);
    close();
  };
  input.addEventListener("input", async () => {
    onChoose(null);
    const query = input.value.trim();
    if (query.length < SEARCH_FROM) return close();
    const mine = ++asked;
    let found;
    try {
      found = suggestions(await getJson(`/api/directory?q=${encodeURIComponent(query)}`), kinds);
    } catch {
      return close();
    }
    if (mine !== asked) return;
    list.replaceChildren(...(found.length ? found.map((entry) => option(entry, choose))
      : [element("li", "muted small", t("referrals.send.no_match"))]));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  });
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
}

function option(entry, choose) {
  const item = build("li", { className: "recipient-option", data: { testid: "recipient-option", kind: entry.kind, value: entry.value } },
    element("span", "recipient-name", entry.label), element("span", "muted small", entry.detail));
  item.setAttribute("role", "option");
  item.addEventListener("mousedown", (event) => {
    event.preventDefault();
    choose(entry);
  });
  return item;
}
