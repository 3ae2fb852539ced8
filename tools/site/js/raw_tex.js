// Waits for MathJax (when the page loads it) to finish typesetting, then returns the TeX of
// every formula left untypeset.
async (timeoutMs) => {
  const ready = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  if (ready) {
    await Promise.race([ready, new Promise((done) => setTimeout(done, timeoutMs))]);
  }
  return Array.from(document.querySelectorAll(".math"))
    .filter((el) => !el.querySelector("mjx-container"))
    .map((el) => el.textContent.trim());
}
