// The page script (in <head>, see qa.web.layout.HEAD). Gradio labels each chat message with
// its raw content and copies that raw content, which for an answer is escaped HTML: both get
// the message's visible text instead. It also wires "/", the citation markers [n] and the
// "Back to the answer" link.
(() => {
  const plain = (el) => (el ? el.innerText : "").replace(/\s+/g, " ").trim();
  const relabel = () => {
    for (const el of document.querySelectorAll("#qa-chat [data-testid=bot]")) {
      const text = "Answer: " + plain(el.querySelector(".message-content"));
      if (el.getAttribute("aria-label") !== text) el.setAttribute("aria-label", text);
    }
  };
  new MutationObserver(relabel).observe(document.documentElement, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ["aria-label"],
  });
  // "/" anywhere but in a text field focuses the question box, as on many sites.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const box = document.querySelector("#qa-question textarea");
    if (box) { event.preventDefault(); box.focus(); }
  });
  // A citation marker [n] in an answer shows that answer's citation n in the source panel,
  // through the hidden #qa-pick box ("turn:n:time", so that a repeat is still a change).
  document.addEventListener("click", (event) => {
    const target = event.target.closest ? event.target : event.target.parentElement;
    const back = target.closest(".qa-back");
    if (back) {
      event.preventDefault();
      const answers = document.querySelectorAll("#qa-chat [data-testid=bot]");
      const answer = window.qaPicked && window.qaPicked.isConnected
        ? window.qaPicked : answers[answers.length - 1];
      if (answer) answer.scrollIntoView({block: "start"});
      return;
    }
    const marker = target.closest("#qa-chat .qa-cite");
    if (!marker) return;
    event.preventDefault();
    event.stopPropagation();  // not also a click on the whole message
    const message = marker.closest("[data-testid=bot]");
    const turn = [...document.querySelectorAll("#qa-chat [data-testid=bot]")].indexOf(message);
    const box = document.querySelector("#qa-pick textarea, #qa-pick input");
    if (turn < 0 || !box) return;
    window.qaPicked = message;
    const n = (marker.textContent.match(/\d+/) || [])[0];  // "[2]": the sanitizer drops data-*
    box.value = `${turn}:${n}:${Date.now()}`;
    box.dispatchEvent(new Event("input", {bubbles: true}));
  }, true);
  // Capture phase: runs before Gradio's own handler, which it replaces for chat messages.
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#qa-chat button");
    if (!button || button.getAttribute("aria-label") !== "Copy message") return;
    // The buttons follow their message's row.
    let row = button.closest(".message-buttons");
    while (row && !row.classList.contains("message-row")) row = row.previousElementSibling;
    const content = row && row.querySelector(".message-content");
    if (!content) return;
    event.stopPropagation();
    event.preventDefault();
    navigator.clipboard.writeText(content.innerText.trim());
  }, true);
})();
