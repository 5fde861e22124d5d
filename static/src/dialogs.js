// The label, macro and keyboard-help windows: modal, closed by ×, Esc or a click beside them.
import { failureReason } from "./api.js";
import { t } from "./i18n.js";

/** What the dialog says about each associated image; resolved when shown (after loadMessages). */
function wording(name) {
  const texts = {
    label: () => ({ title: t("slide.associated.labelTitle"), failed: (reason) => t("slide.associated.labelFailed", { reason }) }),
    macro: () => ({ title: t("slide.associated.macroTitle"), failed: (reason) => t("slide.associated.macroFailed", { reason }) }),
  };
  return texts[name]();
}

export function wireDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.querySelector(".dialog-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
  }
}

/** Closes every open dialog; true when there was one. */
export function closeDialogs() {
  const open = [...document.querySelectorAll("dialog[open]")];
  open.forEach((dialog) => dialog.close());
  return open.length > 0;
}

export function showHelp() {
  document.querySelector("#help-dialog").showModal();
}

export function showAssociated(imageId, name) {
  const dialog = document.querySelector("#associated-dialog");
  const picture = dialog.querySelector(".associated-image");
  const message = dialog.querySelector(".dialog-message");
  const url = `/api/images/${encodeURIComponent(imageId)}/associated/${name}.jpg`;
  const { title, failed } = wording(name);
  dialog.querySelector(".dialog-title").textContent = title;
  message.hidden = true;
  picture.hidden = false;
  picture.alt = title;
  picture.onerror = async () => {
    picture.hidden = true;
    const reason = (await failureReason(url)) ?? t("slide.associated.notLoaded");
    message.textContent = failed(reason);
    message.hidden = false;
  };
  picture.src = url;
  dialog.showModal();
}
