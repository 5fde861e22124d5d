// Who is signed in, in the top bar, and the way out: on a shared clinical workstation both matter.
import { getJson, send } from "./api.js";

function describe(user) {
  const role = user.roles?.[0];
  const where = role ? [role.unit, role.org].filter(Boolean).join(", ") : "";
  return where ? `${user.name} · ${where}` : user.name;
}

export async function showSignedInUser() {
  const slot = document.querySelector("#user");
  let me;
  try {
    me = await getJson("/api/me");
  } catch {
    return;
  }
  const name = Object.assign(document.createElement("span"), { textContent: describe(me.user) });
  const signOut = Object.assign(document.createElement("button"), { type: "button" });
  signOut.textContent = "Sign out";
  signOut.addEventListener("click", async () => {
    try {
      await send("DELETE", "/api/session", undefined, me.csrf_token);
    } catch (error) {
      if (error.status !== 401) return alert(`Signing out failed: ${error.message}`);
    }
    location.assign("/login");
  });
  slot.replaceChildren(name, signOut);
}
