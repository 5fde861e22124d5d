// A calm yes/no question in the page's own style (#confirm-dialog), instead of window.confirm.

/** Resolves true when the user confirms. */
export function confirmAction({ title, message, confirm }) {
  const dialog = document.querySelector("#confirm-dialog");
  dialog.querySelector(".dialog-title").textContent = title;
  dialog.querySelector("[data-field=message]").textContent = message;
  dialog.querySelector("[value=confirm]").textContent = confirm;
  dialog.returnValue = "";
  dialog.showModal();
  dialog.querySelector("[value=cancel]").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}
