// Supervisors (management): read each pending request and its letter, approve or refuse with a
// note. The last approval needed issues the disposition; its link is shown here once.
import { getJSON, problem, request, sendJSON } from "./api.js";
import { apply, t } from "./i18n.js";
import { requestHead, requestRow, verdictText, viewsText } from "./reqview.js";
import { showRetentionChanges } from "./retentionapprovals.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";

function viewerLink(token) {
  // The token rides in the fragment: browsers never send it, so it stays out of server logs.
  return `${location.origin}/static/view.html#token=${encodeURIComponent(token)}`;
}

const who = await start("approvals", "supervisor");
if (who) {
  const pending = document.getElementById("pending");
  const issued = document.getElementById("issued");
  const dispositions = document.getElementById("dispositions");
  const dialog = document.getElementById("letter-dialog");
  const letterBody = document.getElementById("letter-body");
  let letterUrl = null;

  async function showLetter(r) {
    const res = await request(`/api/v1/playback-requests/${encodeURIComponent(r.id)}/letter`);
    if (!res.ok) { alertIn(pending, (await problem(res)).message); return; }
    if (letterUrl) URL.revokeObjectURL(letterUrl);
    letterUrl = URL.createObjectURL(await res.blob());
    const type = r.letter.content_type || "";
    const view = type.startsWith("image/")
      ? el("img", { src: letterUrl, alt: t("appr.letterAlt", { number: r.letter.number }) })
      : el("iframe", { src: letterUrl, title: t("appr.letterAlt", { number: r.letter.number }) });
    letterBody.replaceChildren(
      el("p", {}, t("appr.letterMeta", { number: r.letter.number, date: r.letter.date, sha: r.letter.sha256.slice(0, 16) })),
      view,
      el("p", {}, el("a", { href: letterUrl, download: `letter-${r.letter.sha256.slice(0, 12)}` }, t("appr.download"))));
    dialog.showModal();
  }

  function alertIn(node, text) {
    node.prepend(el("p", { class: "error", role: "alert" }, text));
  }

  function showIssued(disposition) {
    const link = viewerLink(disposition.token);
    const input = el("input", { readonly: true, value: link, class: "token", size: "60", id: "issued-link",
      "aria-label": t("appr.link") });
    issued.replaceChildren(el("div", { class: "card", role: "status" },
      el("h2", {}, t("appr.issued", { id: disposition.id })),
      el("p", { class: "note" }, t("appr.once")),
      el("p", {}, t("appr.scope", { grantee: disposition.grantee, cameras: disposition.cameras.join(", "),
        start: dateTime(disposition.start), end: dateTime(disposition.end), views: disposition.max_views,
        expires: dateTime(disposition.expires_at) })),
      el("p", {}, disposition.copies ? t("req.copiesText", { used: 0, copies: disposition.copies }) : t("appr.replayOnly")),
      el("label", { class: "stacked" }, t("appr.link"), input),
      el("button", { type: "button", onclick: async (event) => {
        input.select();
        try { await navigator.clipboard.writeText(link); event.target.textContent = t("appr.copied"); }
        catch { document.execCommand("copy"); event.target.textContent = t("appr.copied"); }
      } }, t("appr.copy")),
      el("button", { type: "button", onclick: () => issued.replaceChildren() }, t("appr.done"))));
    input.focus();
  }

  function card(r) {
    const note = el("textarea", { rows: "2", maxlength: "2000", "aria-label": t("appr.note") });
    // The copy is approved apart from the replay: unticked, this approval grants the replay only.
    const copies = el("input", { type: "checkbox", class: "approve-copy" });
    const out = el("p", { role: "status" });
    const act = async (kind) => {
      out.className = ""; out.textContent = "";
      if (kind === "refusals" && !note.value.trim()) { out.className = "error"; out.textContent = t("appr.needNote"); note.focus(); return; }
      try {
        const sent = kind === "approvals" ? { note: note.value, copies: copies.checked } : { note: note.value };
        const body = await sendJSON("POST", `/api/v1/playback-requests/${encodeURIComponent(r.id)}/${kind}`, sent);
        if (body.disposition?.token) showIssued(body.disposition);
        else if (kind === "approvals") {
          out.className = "ok";
          out.textContent = t("appr.recorded", { n: body.request.verdicts.filter((v) => v.verdict === "approve").length,
            of: body.request.approvals_required });
        }
        await refresh();
      } catch (err) {
        out.className = "error";
        out.textContent = err.message;
      }
    };
    return el("article", { class: "card", dataset: { request: r.id } },
      el("h3", {}, `${r.party_name} · ${r.party_organisation}`),
      el("dl", { class: "claims" },
        el("dt", {}, t("req.purpose")), el("dd", {}, r.purpose),
        el("dt", {}, t("req.cameras")), el("dd", {}, r.cameras.join(", ")),
        el("dt", {}, t("req.window")), el("dd", {}, `${dateTime(r.start)} – ${dateTime(r.end)}`),
        el("dt", {}, t("req.letter")), el("dd", {}, `${r.letter.number} (${r.letter.date}) `,
          el("button", { type: "button", onclick: () => showLetter(r) }, t("appr.viewLetter"))),
        el("dt", {}, t("req.requester")), el("dd", {}, `${r.requester}, ${dateTime(r.created_at)}`),
        el("dt", {}, t("req.maxViews")), el("dd", {}, String(r.max_views ?? "")),
        el("dt", {}, t("req.copies")), el("dd", { class: r.copies ? "copy-asked" : "" },
          r.copies ? el("strong", {}, t("appr.copiesAsked", { n: r.copies })) : t("appr.replayOnly")),
        el("dt", {}, t("req.verdicts")), el("dd", {}, r.verdicts.map(verdictText).join("; ") || "–")),
      r.copies ? el("label", { class: "inline" }, copies, t("appr.approveCopy", { n: r.copies })) : null,
      el("label", { class: "stacked" }, t("appr.note"), note),
      el("div", { class: "toolbar" },
        el("button", { type: "button", class: "primary", onclick: () => act("approvals") }, t("appr.approve")),
        el("button", { type: "button", class: "danger", onclick: () => act("refusals") }, t("appr.refuse"))),
      out);
  }

  function dispositionRow(d) {
    const reason = el("input", { "aria-label": t("appr.revokeReason"), placeholder: t("appr.revokeReason") });
    const cell = d.revoked_at
      ? el("td", {}, t("appr.revokedBy", { by: d.revoked_by || "", at: dateTime(d.revoked_at) }))
      : el("td", {}, reason, " ", el("button", { type: "button", class: "danger", onclick: async () => {
        if (!reason.value.trim()) { reason.focus(); return; }
        try { await sendJSON("POST", `/api/v1/dispositions/${encodeURIComponent(d.id)}/revocation`, { reason: reason.value }); await refresh(); }
        catch (err) { reason.value = ""; reason.placeholder = err.message; }
      } }, t("appr.revoke")));
    return el("tr", {}, el("td", {}, d.id.slice(0, 8)), el("td", {}, `${d.grantee} · ${d.organisation}`),
      el("td", {}, d.cameras.join(", ")), el("td", {}, `${dateTime(d.start)} – ${dateTime(d.end)}`),
      el("td", {}, viewsText(d)), el("td", {}, d.copies ? `${d.copies_used} / ${d.copies}` : "–"),
      el("td", {}, dateTime(d.expires_at)), cell);
  }

  async function refresh() {
    try {
      const { requests } = await getJSON("/api/v1/playback-requests?status=pending");
      pending.replaceChildren(...(requests.length ? requests.map(card) : [el("p", { class: "note" }, t("appr.nonePending"))]));
      await showRetentionChanges(document.getElementById("retention"), refresh, who.username);
      const done = await getJSON("/api/v1/playback-requests?limit=20");
      const list = await getJSON("/api/v1/dispositions?limit=20");
      const byRequest = new Map(list.dispositions.map((d) => [d.request_id, d]));
      document.getElementById("recent").replaceChildren(el("thead", {}, requestHead()),
        el("tbody", {}, ...done.requests.filter((r) => r.status !== "pending").map((r) => requestRow(r, byRequest))));
      apply(document.getElementById("recent"));
      dispositions.replaceChildren(
        el("thead", {}, el("tr", {}, ...["appr.id", "req.party", "req.cameras", "req.window", "appr.views",
          "appr.copies", "appr.expires", "appr.revocation"].map((k) => el("th", { scope: "col" }, t(k))))),
        el("tbody", {}, ...list.dispositions.map(dispositionRow)));
    } catch (err) {
      pending.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    }
  }

  document.getElementById("letter-close").addEventListener("click", () => dialog.close());
  document.addEventListener("pantau:lang", refresh);
  await refresh();
}
