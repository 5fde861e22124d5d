// The referrals page: /referrals is the worklist (incoming and sent), /referrals/<id> one
// referral with its answer.
import { showNavigation } from "./nav.js";
import { signedInPage } from "./signin.js";
import { showWorklist } from "./worklist.js";
import { showReferral } from "./referral-detail.js";

function referralIdFromPath() {
  const match = /^\/referrals\/([^/]+)\/?$/.exec(location.pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

async function start() {
  const me = await signedInPage(document.querySelector("#error-banner"));
  if (!me) return;
  await showNavigation();
  const id = referralIdFromPath();
  if (id) await showReferral(id, me);
  else await showWorklist(me);
}

start();
