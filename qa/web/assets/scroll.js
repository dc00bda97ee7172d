// The cited span is scrolled to inside the document's own box: scrolling the page would move
// a phone's screen from the answer to the source panel below it.
() => { setTimeout(() => {
  const el = document.getElementById('qa-cited'), box = document.getElementById('qa-doc');
  if (el && box) box.scrollTop += el.getBoundingClientRect().top
    - box.getBoundingClientRect().top - box.clientHeight / 3;
}, 50); }
