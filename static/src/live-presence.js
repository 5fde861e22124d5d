// Who is in the case's room, in the top bar: one avatar per member (initials on the
// organisation's colour, name and organisation in the tooltip), each a button to follow
// that member, and the presenter's switch "everyone follows me".
import { build, element } from "./dom.js";
import { t } from "./i18n.js";

/** "OA" for "Olof Andersson": the first letters of the first and last names. */
export function initials(name) {
  const words = String(name ?? "").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [words[0]];
  return letters.map((word) => [...word][0].toUpperCase()).join("");
}

/** Dark text on a light colour, light text on a dark one. */
export function textColourOn(colour) {
  const match = /^#?([0-9a-f]{6})$/i.exec(colour ?? "");
  if (!match) return "#fff";
  const value = parseInt(match[1], 16);
  const [r, g, b] = [value >> 16, (value >> 8) & 255, value & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
}

export class PresenceBar {
  /** `actions`: {follow(user | null), present(on)}; `here()`: {image, frame} shown now;
   * `imageName(id)`: the name of one of the case's images. */
  constructor(me, actions, here, imageName) {
    this.me = me;
    this.actions = actions;
    this.here = here;
    this.imageName = imageName;
    this.members = [];
    this.following = null;
    this.presenter = null;
    this.avatars = build("div", { className: "live-avatars" });
    this.avatars.setAttribute("role", "group");
    this.avatars.setAttribute("aria-label", t("live.presence.label"));
    this.presentBox = build("input", { type: "checkbox", data: { testid: "live-present" } });
    this.presentBox.addEventListener("change", () => this.actions.present(this.presentBox.checked));
    this.presentSwitch = build("label", { className: "live-present", title: t("live.present.title") },
      this.presentBox, element("span", null, t("live.present.label")));
    this.status = build("span", { className: "live-status", data: { testid: "live-status" } });
    this.node = build("div", { className: "live-bar", data: { testid: "live-presence" } },
      this.status, this.avatars, this.presentSwitch);
    this.connected(false);
  }

  /** Into the top bar, before the signed-in user. */
  mount() {
    const topbar = document.querySelector(".topbar");
    const user = topbar?.querySelector("#user");
    if (user) user.before(this.node);
    else topbar?.append(this.node);
  }

  connected(on) {
    this.status.classList.toggle("on", on);
    this.status.title = on ? t("live.status.connected") : t("live.status.offline");
    this.status.setAttribute("aria-label", this.status.title);
  }

  show({ members = this.members, following = this.following, presenter = this.presenter } = {}) {
    this.members = members;
    this.following = following;
    this.presenter = presenter;
    this.presentBox.checked = presenter === this.me.id;
    this.avatars.replaceChildren(...members.map((member) => this.avatar(member)));
  }

  elsewhere(member) {
    const here = this.here();
    if (member.image && member.image !== here.image) return t("live.member.otherImage", { image: this.imageName(member.image) });
    if (member.image && here.frame !== null && member.frame !== null && member.frame !== undefined && member.frame !== here.frame) {
      return t("live.member.otherFrame", { index: member.frame + 1 });
    }
    return null;
  }

  tooltip(member, mine) {
    const who = t(mine ? "live.member.you" : "live.member.title", { name: member.name ?? "", org: member.org_name ?? member.org ?? "" });
    const parts = [who];
    const where = this.elsewhere(member);
    if (where) parts.push(where);
    if (member.user === this.presenter || member.presenting) parts.push(t("live.member.presenting"));
    if (!mine) parts.push(this.following === member.user ? t("live.follow.stopTitle") : t("live.follow.startTitle"));
    return parts.join(" · ");
  }

  avatar(member) {
    const mine = member.user === this.me.id;
    const followed = this.following === member.user;
    const node = build(mine ? "span" : "button", {
      className: "live-avatar",
      textContent: t("live.member.initials", { initials: initials(member.name) }),
      title: this.tooltip(member, mine),
      data: { testid: "live-member", user: member.user },
    });
    if (!mine) {
      node.type = "button";
      node.setAttribute("aria-pressed", String(followed));
      node.addEventListener("click", () => this.actions.follow(followed ? null : member.user));
    }
    node.setAttribute("aria-label", node.title);
    node.style.background = member.color ?? "#777";
    node.style.color = textColourOn(member.color);
    node.classList.toggle("me", mine);
    node.classList.toggle("followed", followed);
    node.classList.toggle("presenting", member.user === this.presenter || Boolean(member.presenting));
    node.classList.toggle("elsewhere", Boolean(this.elsewhere(member)));
    return node;
  }

  remove() {
    this.node.remove();
  }
}

/** The line over the stage while following: whom, and the way out. */
export class FollowBanner {
  constructor(stage, stop) {
    this.text = element("span", "live-follow-text");
    this.button = build("button", { type: "button", textContent: t("live.follow.stop"), data: { testid: "live-follow-stop" } });
    this.button.addEventListener("click", stop);
    this.node = build("div", { className: "live-follow-banner", hidden: true, data: { testid: "live-following" } }, this.text, this.button);
    this.node.setAttribute("role", "status");
    stage.append(this.node);
  }

  /** `whom`: the member followed (or null), `presenting`: because they present. */
  show(whom, { presenting = false, presentingMyself = false } = {}) {
    if (presentingMyself) {
      this.text.textContent = t("live.presenting.self");
      this.button.hidden = true;
      this.node.hidden = false;
      return;
    }
    this.button.hidden = false;
    this.node.hidden = !whom;
    if (!whom) return;
    this.text.textContent = presenting ? t("live.following.presenter", { name: whom.name ?? "" }) : t("live.following.member", { name: whom.name ?? "" });
    this.node.style.borderColor = whom.color ?? "";
  }

  remove() {
    this.node.remove();
  }
}
