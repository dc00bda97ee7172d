// After a tap on a citation marker the source is what was asked for: the cited span is
// scrolled to in the document's box (as scroll.js) and, on a narrow screen, where the panel
// is below the chat, the page goes to it (its "Back to the answer" returns).
() => { setTimeout(() => {
  const el = document.getElementById('qa-cited'), box = document.getElementById('qa-doc');
  if (el && box) box.scrollTop += el.getBoundingClientRect().top
    - box.getBoundingClientRect().top - box.clientHeight / 3;
  const panel = document.getElementById('qa-source');
  if (panel && window.innerWidth < 768) panel.scrollIntoView({block: 'start'});
}, 50); }
