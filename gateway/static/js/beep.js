// A short two-tone beep made with WebAudio (no audio file: nothing to fetch on a closed network).
// Browsers start an AudioContext suspended until the user has interacted with the page, so
// unlock() is called from the click that turns the sound on, and again on the next interaction
// after a reload.
const TONES = [[0, 880], [0.22, 660]]; // seconds from now, Hz
const TONE_S = 0.18;
const GAP_MS = 2000; // alerts replayed after a reconnect come in a burst: one beep for them

export class Beeper {
  constructor() {
    this.context = null;
    this.last = 0;
    this.count = 0; // beeps played (the browser tests read it)
  }

  unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    this.context ??= new Context();
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  // At most one beep per GAP_MS; returns whether it sounded.
  beep() {
    if (Date.now() - this.last < GAP_MS) return false;
    this.last = Date.now();
    if (!this.play()) return false;
    this.count += 1;
    return true;
  }

  // One beep now (also what the user hears when turning the sound on).
  play() {
    this.unlock();
    const ctx = this.context;
    if (!ctx) return false;
    const now = ctx.currentTime;
    for (const [offset, frequency] of TONES) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + TONE_S);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + offset);
      osc.stop(now + offset + TONE_S + 0.02);
    }
    return true;
  }
}
