// Flit's console script: it only improves what already works without it.
// - `data-estimate`: a form whose text, numbers and groups are sent to its estimate URL as
//   the person types, the answer (encoding, parts, cost, by the engine's own rules) shown in
//   the element it names.
// - `data-confirm`: a button that asks before its form is posted.
"use strict";

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-estimate]")) {
    const target = document.getElementById(form.dataset.estimateTarget);
    const update = debounce(async () => {
      const body = new URLSearchParams(new FormData(form));
      try {
        const answer = await fetch(form.dataset.estimate, {
          method: "POST",
          body,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          credentials: "same-origin",
        });
        if (answer.ok) {
          target.innerHTML = await answer.text();
        }
      } catch (_) {
        // Offline for a moment: the counter keeps its last figures.
      }
    }, 150);
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
});
