// A picture's sound: muted until the operator turns it on (browsers refuse sound that starts by
// itself), and one tile or player audible at a time, as operators expect: turning one on turns the
// others off. The button shows only while the session sends sound (the answer's audio section
// sends), so a camera without sound, or a viewer whose role may not hear it, gets none.
import { t } from "./i18n.js";
import { el } from "./shell.js";

let audible = null; // the Sound heard now

export class Sound {
  constructor(video) {
    this.video = video;
    this.video.muted = true;
    this.codec = null;
    this.realTime = true;
    this.button = el("button", { type: "button", class: "sound", hidden: true, "aria-pressed": "false",
      dataset: { i18n: "sound.button" } }, t("sound.button"));
    // A click on the button is not a click (or double click: full screen) on the tile under it.
    this.button.addEventListener("click", (event) => { event.stopPropagation(); this.toggle(); });
    this.button.addEventListener("dblclick", (event) => event.stopPropagation());
    this.render();
  }

  // The session now playing sends sound in `codec` ("PCMA", "opus"), or none (null).
  available(codec) {
    this.codec = codec;
    if (!codec) this.mute();
    this.render();
  }

  // Playback sends sound at 1× only: at other speeds the button stays, off and disabled.
  atRate(rate) {
    this.realTime = rate === 1;
    this.render();
  }

  toggle(on = this.video.muted) {
    if (!on) { this.mute(); return; }
    if (audible && audible !== this) audible.mute();
    audible = this;
    this.video.muted = false;
    this.render();
  }

  mute() {
    this.video.muted = true;
    if (audible === this) audible = null;
    this.render();
  }

  render() {
    const on = !this.video.muted;
    this.button.hidden = !this.codec;
    this.button.disabled = !this.realTime;
    this.button.setAttribute("aria-pressed", String(on));
    const hint = !this.realTime ? "sound.realTimeOnly" : on ? "sound.mute" : "sound.unmute";
    this.button.dataset.i18nAttr = `title:${hint}`; // relabelled when the language changes
    this.button.title = t(hint);
    this.button.textContent = t("sound.button");
  }
}
