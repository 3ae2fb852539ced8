// Blocks whose content is wider than their box; each as [kind, overflow in px, first line].
() => {
  const kinds = {output: "div.sphx-glr-script-out pre", code: "div.highlight-Python pre"};
  const found = [];
  for (const [kind, selector] of Object.entries(kinds)) {
    for (const el of document.querySelectorAll(selector)) {
      if (el.scrollWidth > el.clientWidth + 1) {
        found.push([kind, el.scrollWidth - el.clientWidth, el.textContent.split("\n")[0]]);
      }
    }
  }
  return found;
}
