// Shown in place of a page's content when the server answers 401: sign in, then carry on.
// The page loads the catalogue (the browser's remembered language) before calling signIn().
import { send } from "./api.js";
import { show } from "./dom.js";
import { loadMessages, t, translatePage } from "./i18n.js";
import { languageSwitch, signedIn } from "./nav.js";

function field(label, name, type, autocomplete) {
  const wrapper = document.createElement("label");
  wrapper.className = "field";
  const input = Object.assign(document.createElement("input"), { name, type, autocomplete, required: true });
  wrapper.append(label, input);
  return wrapper;
}

/** The server's refusals a signing-in user can do something about, in their language; any
 * other failure keeps the server's own words. */
function reason(failure) {
  const known = {
    unauthenticated: () => t("login.error.wrong"),
    too_many_attempts: () => t("login.error.throttled"),
  };
  return known[failure.code]?.() ?? failure.message;
}

/** Without a session there is no navigation: the language switch goes where it would be. */
function offerLanguages() {
  const slot = document.querySelector("#user");
  if (slot && !slot.childElementCount) slot.append(languageSwitch(null));
}

/** Renders a sign-in form into container and resolves once the session cookie is set. */
export function signIn(container) {
  container.replaceChildren();
  offerLanguages();
  const form = document.createElement("form");
  form.className = "signin";
  form.dataset.testid = "signin";
  const heading = Object.assign(document.createElement("h2"), { textContent: t("login.heading") });
  const error = Object.assign(document.createElement("p"), { className: "form-error", hidden: true });
  error.setAttribute("role", "alert");
  error.dataset.testid = "signin-error";
  const submit = Object.assign(document.createElement("button"), { type: "submit", textContent: t("login.submit") });
  form.append(heading, field(t("login.username"), "username", "text", "username"),
    field(t("login.password"), "password", "password", "current-password"), error, submit);
  container.append(form);
  form.username.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        await send("POST", "/api/session", { username: form.username.value, password: form.password.value });
        resolve();
      } catch (failure) {
        error.textContent = reason(failure);
        error.hidden = false;
        submit.disabled = false;
      }
    });
  });
}

/** The start of every signed-in page: the user ({user, csrf_token}) once the catalogue is in
 * their language and the page translated. Without one (null): the sign-in in #signin-slot,
 * then the page afresh in the signed-in user's language, or any other failure in `banner`,
 * both in the language this browser last used. */
export async function signedInPage(banner) {
  let me;
  try {
    me = await signedIn();
  } catch (error) {
    await loadMessages();
    translatePage();
    if (error.status !== 401) {
      show(banner, error.message);
      return null;
    }
    await signIn(document.querySelector("#signin-slot"));
    location.reload();
    return null;
  }
  await loadMessages(me.user.language);
  translatePage();
  return me;
}
