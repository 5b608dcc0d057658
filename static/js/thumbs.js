// A strip of small captioned images (reference digits: top examples, nearest neighbours).

export function thumbnails(items, caption, alt = (item) => `reference image ${item.label}`) {
  const strip = document.createElement("div");
  strip.className = "thumbs";
  for (const item of items) {
    const figure = document.createElement("figure");
    const image = new Image();
    image.src = item.png;
    image.alt = alt(item);
    const text = document.createElement("figcaption");
    text.textContent = caption(item);
    figure.append(image, text);
    strip.append(figure);
  }
  return strip;
}
