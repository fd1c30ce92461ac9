// Two dictionaries (English, Indonesian), fetched once; the choice is kept in localStorage and
// defaults from navigator.language. Static text carries a data-i18n key (for textContent) or
// data-i18n-attr with "attr:key;attr:key" pairs; code calls t(key, {name: value}).
const LANGS = ["en", "id"];
const STORE = "pantau.lang";
const dictionaries = {};
let current = "en";

function initial() {
  const saved = localStorage.getItem(STORE);
  if (LANGS.includes(saved)) return saved;
  const wanted = (navigator.languages || [navigator.language || "en"]).map((l) => l.slice(0, 2).toLowerCase());
  return wanted.find((l) => LANGS.includes(l)) || "en";
}

async function load() {
  await Promise.all(LANGS.map(async (lang) => {
    const res = await fetch(`/static/i18n/${lang}.json`, { cache: "no-cache" });
    dictionaries[lang] = res.ok ? await res.json() : {};
  }));
  current = initial();
  document.documentElement.lang = current;
}

export const ready = load();

export function lang() { return current; }
export function languages() { return LANGS; }

// The locale for dates and numbers on screen.
export function locale() { return current === "id" ? "id-ID" : "en-GB"; }

export function t(key, vars = {}) {
  const text = dictionaries[current]?.[key] ?? dictionaries.en?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function has(key) { return key in (dictionaries[current] || {}) || key in (dictionaries.en || {}); }

export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = `${t(title.dataset.i18n)} · Pantau`;
}

// Switch language: re-label the static text and tell the page to redraw what it built.
export function setLang(next) {
  if (!LANGS.includes(next) || next === current) return;
  current = next;
  localStorage.setItem(STORE, next);
  document.documentElement.lang = next;
  apply(document);
  document.dispatchEvent(new CustomEvent("pantau:lang", { detail: next }));
}
