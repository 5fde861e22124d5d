// The cases page: /cases lists what the signed-in user may see, /cases/<id> shows one case.
import { signedIn, showNavigation } from "./nav.js";
import { signIn } from "./signin.js";
import { showCaseList } from "./case-list.js";
import { showCaseDetail } from "./case-detail.js";
import { show } from "./dom.js";
import { loadMessages, translatePage } from "./i18n.js";

function caseIdFromPath() {
  const match = /^\/cases\/([^/]+)\/?$/.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

async function start() {
  let me;
  try {
    me = await signedIn();
  } catch (error) {
    // No user yet: the language this browser last used, for the sign-in or the error.
    await loadMessages();
    translatePage();
    if (error.status !== 401) return show(document.querySelector("#error-banner"), error.message);
    await signIn(document.querySelector("#signin-slot"));
    return location.reload(); // now in the signed-in user's own language
  }
  await loadMessages(me.user.language);
  translatePage();
  showNavigation();
  const id = caseIdFromPath();
  if (id) await showCaseDetail(id, me);
  else await showCaseList(me);
}

start();
