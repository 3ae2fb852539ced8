// Waits for every image (lazy ones included) to finish loading or fail, then reports them.
async (timeoutMs) => {
  const images = Array.from(document.images);
  for (const img of images) { if (img.loading === "lazy") img.loading = "eager"; }
  const settled = images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
  }));
  await Promise.race([
    Promise.all(settled), new Promise((done) => setTimeout(done, timeoutMs)),
  ]);
  return images.map((img) => ({
    src: img.getAttribute("src") || img.currentSrc, width: img.naturalWidth,
  }));
}
