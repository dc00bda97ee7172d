// After a new answer: the cited span is scrolled to in the document's box (as scroll.js), and
// the new answer is read from its start: the chat (autoscroll off) scrolls to the top of it,
// not to its end, which on a phone would show the source list instead of the quote.
() => { setTimeout(() => {
  const el = document.getElementById('qa-cited'), box = document.getElementById('qa-doc');
  if (el && box) box.scrollTop += el.getBoundingClientRect().top
    - box.getBoundingClientRect().top - box.clientHeight / 3;
  const all = document.querySelectorAll('#qa-chat [data-testid=bot]');
  const last = all[all.length - 1];
  let log = last && last.parentElement;
  while (log && log.scrollHeight <= log.clientHeight + 1) log = log.parentElement;
  if (last && log && log.id !== 'qa-chat' && log !== document.documentElement)
    log.scrollTop += last.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
  const top = last ? last.getBoundingClientRect().top : 0;  // the page too, if it hides it
  if (top < 0 || top > window.innerHeight * 0.6) last.scrollIntoView({block: 'start'});
}, 50); }
