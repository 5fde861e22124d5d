// The login page the server sends anyone without a session to; afterwards, back where they were going.
import { signIn } from "./signin.js";

/** Only a path on this server, never another site (an open redirect). */
function destination() {
  const next = new URL(new URLSearchParams(location.search).get("next") ?? "/", location.origin);
  return next.origin === location.origin ? next.pathname + next.search : "/";
}

await signIn(document.querySelector("#content"));
location.assign(destination());
