// The page script (in <head>, see qa.web.layout.HEAD): keyboard and screen-reader support, the
// citation markers, plain-text copies, and the library's rows. Gradio events call window.qa's
// functions after their outputs are drawn (layout.py's *_JS).
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
  const plain = (el) => (el ? el.innerText : "").replace(/\s+/g, " ").trim();
  const bots = () => $$("#qa-chat [data-testid=bot]");
  // A marker's number, from its text "[2]": the chat's sanitizer drops data-* attributes.
  const number = (marker) => +(marker.textContent.match(/\d+/) || [0])[0];
  // An event's output is drawn a moment after the event ends. Each step is counted once done
  // (qa.done.answered...): what tests wait for, rather than a time.
  const done = {};
  const later = (step, fn) => setTimeout(() => {
    try { fn(); } finally { done[step] = (done[step] || 0) + 1; }
  }, 50);
  let live = null; // the page's own live region (role=status), made once the body exists
  let seen = 0; // answers announced so far
  let active = null; // the citation the source panel shows: {turn, n}
  let picked = null; // the marker that opened it, where "Back to the answer" returns

  // Said once by screen readers, politely; emptied first so that the same words are said again.
  const say = (text) => {
    if (!live || !text) return;
    live.textContent = "";
    requestAnimationFrame(() => { live.textContent = text; });
  };
  const makeLive = () => {
    live = Object.assign(document.createElement("div"), {id: "qa-live", className: "qa-sr-only"});
    live.setAttribute("role", "status");
    live.setAttribute("aria-live", "polite");
    document.body.append(live);
  };
  // Gradio may add this script to <head> after the page has loaded.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", makeLive);
  else makeLive();

  // A message as text: a user's question, or an answer's quote (else its paragraphs) followed
  // by one "[n] Title — file, characters a–b (page n)" line per citation.
  const messageText = (message) => {
    const content = $(".message-content", message);
    if (message.getAttribute("data-testid") === "user") return plain(content);
    const quote = content && $(".qa-quote", content);
    const said = quote ? plain(quote)
      : $$("p", content || message).filter((p) => !p.closest("details")).map(plain).join(" ");
    const cites = $$(".qa-ref", content || message).map(
      (ref) => `[${number($(".qa-cite", ref))}] ${$(".qa-pop-cite", ref).textContent.trim()}`);
    return [said, ...cites].join("\n");
  };
  const conversation = () => $$("#qa-chat [data-testid=user], #qa-chat [data-testid=bot]")
    .map((m) => (m.getAttribute("data-testid") === "user" ? "\nQ: " : "A: ") + messageText(m))
    .join("\n").trim() + "\n";
  // What a new answer says aloud: the quote (not its markers), how sure, and where from; a
  // reply without a quote (the sources do not answer, a question back) as it is copied.
  const spoken = (message) => {
    const quote = $(".qa-quote", message);
    if (!quote) return messageText(message);
    const words = plain(quote).replace(/\s*\[\d+\]/g, "");
    const from = $(".qa-chip-title", message);
    return `${words} ${plain($(".qa-confidence", message))}. Source 1: ${plain(from)}.`;
  };

  // The citation shown is marked (aria-current) wherever its marker is drawn, again after
  // Gradio redraws a message.
  const markActive = () => bots().forEach((message, turn) => {
    for (const marker of $$(".qa-cite", message)) {
      const on = !!active && active.turn === turn && active.n === number(marker);
      if (marker.classList.contains("qa-active") === on) continue;
      marker.classList.toggle("qa-active", on);
      if (on) marker.setAttribute("aria-current", "true");
      else marker.removeAttribute("aria-current");
    }
  });
  const tidy = () => {
    // Gradio names each message's role-less div with its raw content (escaped HTML): a name
    // such a div may not have (axe: aria-prohibited-attr), and not what is shown.
    for (const el of $$("#qa-chat [data-testid][aria-label]")) {
      if (!el.getAttribute("role") && el.tagName === "DIV") el.removeAttribute("aria-label");
    }
    // The chat's sanitizer drops aria-label: markers and links carry their name in a hidden
    // qa-name span (qa.web.render.accessible_name).
    for (const name of $$("#qa-chat .qa-name")) {
      const text = name.textContent.trim();
      if (name.parentElement.getAttribute("aria-label") !== text) {
        name.parentElement.setAttribute("aria-label", text);
      }
    }
    // The chat's log would read out a whole new message, sources and all: the live region
    // says the answer instead.
    const log = $("#qa-chat [role=log]");
    if (log && log.getAttribute("aria-live") !== "off") log.setAttribute("aria-live", "off");
    const all = bots();
    if (all.length < seen) { seen = all.length; active = null; } // cleared
    const last = all[all.length - 1];
    if (all.length > seen && last && plain(last)) {
      seen = all.length;
      active = $(".qa-cite", last) ? {turn: all.length - 1, n: 1} : null; // the panel shows [1]
      picked = null;
      say(`Answer: ${spoken(last)}`);
    }
    markActive();
  };
  let queued = 0;
  new MutationObserver(() => {
    if (!queued) queued = requestAnimationFrame(() => { queued = 0; tidy(); });
  }).observe(document.documentElement, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ["aria-label", "aria-live"],
  });

  // The cited span scrolled to inside the document's own box: scrolling the page would move
  // a phone's screen from the answer to the source panel below it.
  const scrollCited = () => {
    const cited = $("#qa-source #qa-cited"), box = $("#qa-source .qa-doc");
    if (cited && box) box.scrollTop += cited.getBoundingClientRect().top
      - box.getBoundingClientRect().top - box.clientHeight / 3;
    return cited;
  };
  // A marker activated: its answer's citation n goes to the source panel through the hidden
  // #qa-pick box ("turn:n:time", so that a repeat is still a change); focus follows (shown).
  const pick = (marker) => {
    const turn = bots().indexOf(marker.closest("[data-testid=bot]"));
    const box = $("#qa-pick textarea, #qa-pick input");
    if (turn < 0 || !box) return;
    picked = marker;
    active = {turn, n: number(marker)};
    markActive();
    box.value = `${turn}:${active.n}:${Date.now()}`;
    box.dispatchEvent(new Event("input", {bubbles: true}));
  };
  // Back to the marker that opened the source (else the shown citation's, else the latest
  // answer's first), focused; the question box when there is no answer.
  const back = () => {
    let marker = picked && picked.isConnected ? picked : null;
    const all = bots();
    if (!marker && active && all[active.turn]) {
      marker = $$(".qa-cite", all[active.turn]).find((m) => number(m) === active.n);
    }
    marker = marker || (all.length ? $(".qa-cite", all[all.length - 1]) : null);
    if (!marker) { $("#qa-question textarea").focus(); return; }
    marker.focus({preventScroll: true});
    marker.scrollIntoView({block: "center"});
  };
  // The library's row: its document opens in the viewer, through the hidden #qa-open box.
  const openRow = (row) => {
    const button = $("button.qa-open", row), box = $("#qa-open textarea, #qa-open input");
    if (!button || !box) return;
    box.value = JSON.stringify([button.value, Date.now()]);
    box.dispatchEvent(new Event("input", {bubbles: true}));
  };
  const copy = (text, what) => { navigator.clipboard.writeText(text); say(`Copied ${what}.`); };
  // The library sorted by a column (its header's button): ascending first, then descending;
  // numbers as numbers. Redrawn by Gradio after a change, it comes back sorted by title.
  const sortLibrary = (button) => {
    const th = button.closest("th"), table = button.closest("table");
    const column = +button.value, body = $("tbody", table);
    const order = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    $$("thead th", table).forEach((h) => h.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", order);
    const key = (row) => row.cells[column].dataset.sort || "";
    const numeric = $$("tr", body).every((row) => key(row) !== "" && !isNaN(+key(row)));
    const rows = $$("tr", body).sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const by = numeric ? +x - +y : x.localeCompare(y);
      return order === "ascending" ? by : -by;
    });
    body.append(...rows);
    say(`Documents sorted by ${button.textContent}, ${order}.`);
  };
  // Rows whose title or file name hold what the filter box says (case ignored).
  const filterLibrary = (input) => {
    const wanted = input.value.trim().toLowerCase();
    const rows = $$("#qa-library tbody tr");
    rows.forEach((row) => { row.hidden = !!wanted && !plain(row.cells[0]).toLowerCase().includes(wanted); });
    const shown = rows.filter((row) => !row.hidden).length;
    say(`${shown} of ${rows.length} documents shown.`);
  };
  document.addEventListener("input", (event) => {
    if (event.target.id === "qa-filter") filterLibrary(event.target);
  });

  // Capture phase: runs before Gradio's own handlers, which it replaces for these targets.
  document.addEventListener("click", (event) => {
    const target = event.target.closest ? event.target : event.target.parentElement;
    const stop = () => { event.preventDefault(); event.stopPropagation(); };
    const button = target.closest("#qa-chat button");
    const label = button && button.getAttribute("aria-label");
    if (label === "Copy conversation") { stop(); copy(conversation(), "the conversation"); return; }
    if (label === "Copy message") {
      let row = button.closest(".message-buttons"); // the buttons follow their message's row
      while (row && !row.classList.contains("message-row")) row = row.previousElementSibling;
      const message = row && $("[data-testid]", row);
      if (message) { stop(); copy(messageText(message) + "\n", "the message"); }
      return;
    }
    if (target.closest(".qa-back")) { stop(); back(); return; }
    if (target.closest(".qa-jump")) { // to the first marker of the latest answer with one
      stop();
      const marker = bots().reverse().map((m) => $(".qa-cite", m)).find(Boolean);
      if (marker) marker.focus();
      return;
    }
    const sorter = target.closest("#qa-library button.qa-sort");
    if (sorter) { stop(); sortLibrary(sorter); return; }
    const row = target.closest("#qa-library tbody tr");
    if (row) { stop(); openRow(row); return; }
    const marker = target.closest("#qa-chat .qa-cite");
    if (marker) { stop(); pick(marker); return; } // stopped: not also a click on the message
    const message = target.closest("#qa-chat [data-testid=bot]");
    if (message && !target.closest("a, button, summary")) { // Gradio shows its first source
      active = $(".qa-cite", message) ? {turn: bots().indexOf(message), n: 1} : active;
      picked = null;
      markActive();
    }
  }, true);

  document.addEventListener("keydown", (event) => {
    // Escape in the source panel goes back to the answer.
    if (event.key === "Escape" && event.target.closest && event.target.closest("#qa-source")) {
      event.preventDefault();
      back();
      return;
    }
    // "/" anywhere but in a text field focuses the question box, as on many sites.
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const box = $("#qa-question textarea");
    if (box) { event.preventDefault(); box.focus(); }
  });

  window.qa = {
    done,
    // A new answer: the cited span in view in its box, and the answer read from its start
    // (the chat's autoscroll is off): on a phone its end would be the source list. It goes
    // below the chat's floating label and buttons, which covered its first line.
    answered: () => later("answered", () => {
      scrollCited();
      const all = bots(), last = all[all.length - 1];
      let log = last && last.parentElement;
      while (log && log.scrollHeight <= log.clientHeight + 1) log = log.parentElement;
      if (last && log && log.id !== "qa-chat" && log !== document.documentElement) {
        const covers = $$("#qa-chat [data-testid=block-label], #qa-chat .top-panel")
          .map((el) => el.getBoundingClientRect().bottom);
        const top = Math.max(log.getBoundingClientRect().top, ...covers);
        // With its question above it when both fit.
        const asked = $$("#qa-chat [data-testid=user]").pop();
        const both = asked && last.getBoundingClientRect().bottom
          - asked.getBoundingClientRect().top <= log.getBoundingClientRect().bottom - top - 16;
        log.scrollTop += (both ? asked : last).getBoundingClientRect().top - top - 8;
      }
      const top = last ? last.getBoundingClientRect().top : 0; // the page too, if it hides it
      if (top < 0 || top > window.innerHeight * 0.6) window.scrollBy(0, top - 8);
    }),
    // A citation shown for an answer clicked: its span in view in the box.
    scrolled: () => later("scrolled", scrollCited),
    // A marker activated: the cited span in view and focused (announced), and on a narrow
    // screen, where the panel is below the chat, the page at the panel.
    shown: () => later("shown", () => {
      const cited = scrollCited();
      if (!cited) return;
      cited.tabIndex = -1;
      cited.focus({preventScroll: true});
      if (window.innerWidth < 768) $("#qa-source").scrollIntoView({block: "start"});
      say(plain($("#qa-says")));
    }),
    // A library row opened: the document's text focused (and so announced by its name).
    opened: () => later("opened", () => {
      const doc = $("#qa-viewer .qa-doc");
      if (!doc) return;
      doc.focus({preventScroll: true});
      $("#qa-viewer").scrollIntoView({block: "start"});
    }),
    // A message of the Sources tab (removal) said aloud.
    said: () => later("said", () => say(plain($("#qa-remove-status")))),
    // A removal to confirm: focus on its safe answer, "Cancel".
    confirming: () => later("confirming", () => {
      const no = $("#qa-remove-no");
      if (no) no.focus();
    }),
  };
})();
