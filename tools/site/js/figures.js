// Every gallery figure (not thumbnails): its src, srcset and alt text.
() => Array.from(document.querySelectorAll("img.sphx-glr-single-img, img.sphx-glr-multi-img"))
  .map((img) => ({
    src: img.getAttribute("src"),
    srcset: img.getAttribute("srcset") || "",
    alt: img.getAttribute("alt") || "",
  }))
