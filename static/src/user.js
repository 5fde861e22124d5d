// Who is signed in, in the top bar, and the way out: on a shared clinical workstation both
// matter. The whole top navigation lives in nav.js; pages keep calling showSignedInUser().
export { showNavigation as showSignedInUser } from "./nav.js";
