// The cases page: /cases lists what the signed-in user may see, /cases/<id> shows one case.
import { showNavigation } from "./nav.js";
import { signedInPage } from "./signin.js";
import { showCaseList } from "./case-list.js";
import { showCaseDetail } from "./case-detail.js";

function caseIdFromPath() {
  const match = /^\/cases\/([^/]+)\/?$/.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

async function start() {
  const me = await signedInPage(document.querySelector("#error-banner"));
  if (!me) return;
  showNavigation();
  const id = caseIdFromPath();
  if (id) await showCaseDetail(id, me);
  else await showCaseList(me);
}

start();
