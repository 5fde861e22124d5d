// The login page the server sends anyone without a session to; afterwards, back where they were going.
import { loadMessages, translatePage } from "./i18n.js";
import { signIn } from "./signin.js";

/** Only a path on this server, never another site (an open redirect); without one, the
 * signed-in user's cases: everyone lands on their worklist. */
function destination() {
  const next = new URL(new URLSearchParams(location.search).get("next") ?? "/cases", location.origin);
  return next.origin === location.origin && next.pathname !== "/" ? next.pathname + next.search : "/cases";
}

// No user yet: the language this browser last used (Swedish the first time).
await loadMessages();
translatePage();
await signIn(document.querySelector("#content"));
location.assign(destination());
