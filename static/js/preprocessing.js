// "What the model sees": the digit preprocessing's steps for an upload (ink map, threshold, crop
// box, 20 px box, 28x28 field), as the server made them (explain_preprocessing=true), so a
// student sees how MNIST was made and a user sees why an upload was misread.

const PATH_NAMES = {
  mnist_like: "already MNIST-like: used as it is",
  flat_background: "flat background (scan, screenshot, crop)",
  uneven_background: "uneven light (photo of paper)",
};

export function renderSteps(container, preprocessing) {
  if (!preprocessing || !preprocessing.steps) {
    // a drawing's answers have no steps: leave an already empty list alone (no DOM change per frame)
    if (container.firstChild) container.replaceChildren();
    if (!container.hidden) container.hidden = true;
    return;
  }
  container.replaceChildren();
  container.hidden = false;
  const summary = document.createElement("p");
  summary.className = "muted";
  const reason = preprocessing.reason || "";
  summary.textContent = `${PATH_NAMES[preprocessing.path] || preprocessing.path}. ${reason.charAt(0).toUpperCase()}${reason.slice(1)}`;
  const list = document.createElement("ol");
  list.className = "steps";
  for (const step of preprocessing.steps) {
    const item = document.createElement("li");
    item.dataset.step = step.name;
    const image = document.createElement("img");
    image.src = step.png;
    image.alt = step.title;
    image.title = step.title;
    const caption = document.createElement("span");
    caption.textContent = step.title;
    item.append(image, caption);
    list.append(item);
  }
  container.append(summary, list);
}
