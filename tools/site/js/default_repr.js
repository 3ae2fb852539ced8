// Printed outputs holding an object's default repr (<... object at 0x7f...>): a block whose
// last line is a call like ax.legend() prints what it returns.
() => Array.from(document.querySelectorAll("div.sphx-glr-script-out pre"))
  .flatMap((el) => el.textContent.match(/<[^<>\n]* object at 0x[0-9a-f]+>/g) || [])
