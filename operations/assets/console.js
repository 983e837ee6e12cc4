// The console's only script. Pages work without it; it refreshes the parts that
// name a fragment to fetch, and asks before a button that changes many jobs.
"use strict";

for (const part of document.querySelectorAll("[data-refresh]")) {
  const every = Number(part.dataset.every || 2000);
  setInterval(async () => {
    try {
      const response = await fetch(part.dataset.refresh, { credentials: "same-origin" });
      if (response.ok) part.innerHTML = await response.text();
    } catch (_) {
      // The console is restarting or gone: the next tick tries again.
    }
  }, every);
}

document.addEventListener("submit", (event) => {
  const question = event.submitter && event.submitter.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
