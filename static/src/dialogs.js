// The label, macro and keyboard-help windows: modal, closed by ×, Esc or a click beside them.
import { failureReason } from "./api.js";

const TITLES = { label: "Slide label", macro: "Macro image" };

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
  dialog.querySelector(".dialog-title").textContent = TITLES[name];
  message.hidden = true;
  picture.hidden = false;
  picture.alt = TITLES[name];
  picture.onerror = async () => {
    picture.hidden = true;
    const reason = (await failureReason(url)) ?? "it could not be loaded.";
    message.textContent = `The ${name} image cannot be shown: ${reason}`;
    message.hidden = false;
  };
  picture.src = url;
  dialog.showModal();
}
