// The referrals page: /referrals is the worklist (incoming and sent), /referrals/<id> one
// referral with its answer.
import { signedIn, showNavigation } from "./nav.js";
import { signIn } from "./signin.js";
import { showWorklist } from "./worklist.js";
import { showReferral } from "./referral-detail.js";
import { show } from "./dom.js";
import { loadMessages, translatePage } from "./i18n.js";

function referralIdFromPath() {
  const match = /^\/referrals\/([^/]+)\/?$/.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

async function start() {
  let me;
  try {
    me = await signedIn();
  } catch (error) {
    await loadMessages();
    translatePage();
    if (error.status !== 401) return show(document.querySelector("#error-banner"), error.message);
    await signIn(document.querySelector("#signin-slot"));
    return location.reload();
  }
  await loadMessages(me.user.language);
  translatePage();
  await showNavigation();
  const id = referralIdFromPath();
  if (id) await showReferral(id, me);
  else await showWorklist(me);
}

start();
