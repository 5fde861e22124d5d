// Shown in place of a page's content when the server answers 401: sign in, then carry on.
import { send } from "./api.js";

function field(label, name, type, autocomplete) {
  const wrapper = document.createElement("label");
  wrapper.className = "field";
  const input = Object.assign(document.createElement("input"), { name, type, autocomplete, required: true });
  wrapper.append(label, input);
  return wrapper;
}

/** Renders a sign-in form into container and resolves once the session cookie is set. */
export function signIn(container) {
  container.replaceChildren();
  const form = document.createElement("form");
  form.className = "signin";
  form.dataset.testid = "signin";
  const heading = Object.assign(document.createElement("h2"), { textContent: "Sign in to samsyn" });
  const error = Object.assign(document.createElement("p"), { className: "form-error", hidden: true });
  error.setAttribute("role", "alert");
  const submit = Object.assign(document.createElement("button"), { type: "submit", textContent: "Sign in" });
  form.append(heading, field("User name", "username", "text", "username"),
    field("Password", "password", "password", "current-password"), error, submit);
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
        error.textContent = failure.message;
        error.hidden = false;
        submit.disabled = false;
      }
    });
  });
}
