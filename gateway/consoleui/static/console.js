// Small helpers only; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A reject or resubmission request needs a reason: say so before the
  // round trip (the server checks it anyway).
  for (const b of document.querySelectorAll("button[data-needs-reason]")) {
    b.addEventListener("click", (ev) => {
      const r = b.form.querySelector("[name=reason]");
      if (r && r.value.trim() === "") {
        ev.preventDefault();
        r.setCustomValidity("A reason is required for this decision.");
        r.reportValidity();
        r.addEventListener("input", () => r.setCustomValidity(""), { once: true });
      }
    });
  }
  for (const a of document.querySelectorAll("a[data-back]")) {
    a.addEventListener("click", (ev) => { if (history.length > 1) { ev.preventDefault(); history.back(); } });
  }
});
