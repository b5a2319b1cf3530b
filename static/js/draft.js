// Drafts (labelling.drafts): what the rater types is sent a moment after each change and
// once more when the tab is hidden or closed, so that nothing typed is lost. A copy is
// kept in this browser too, for changes that could not be sent (signed out, offline):
// when the item opens again with the same saved version, the copy is put back and sent.
(function () {
  "use strict";

  const form = document.getElementById("label-form");
  if (!form || !form.dataset.draftUrl) return;
  const url = form.dataset.draftUrl;
  const key = "rlhf-draft:" + form.dataset.assignment;
  const status = document.getElementById("draft-status");
  const basedOn = () => form.elements.based_on.value;
  const DELAY = 1000;
  let timer = null;
  let dirty = false; // changed since the server last kept a draft
  let generation = 0; // bumped by each change, so a late answer does not mark newer changes sent

  function say(text) {
    if (status && text && status.textContent !== text) status.textContent = text;
  }
  if (!status) return;

  function values() {
    return Array.from(new FormData(form).entries()).filter(
      ([name]) => name !== "csrfmiddlewaretoken" && name !== "based_on" && name !== "active_seconds"
    );
  }

  function keepHere() {
    try {
      localStorage.setItem(
        key,
        JSON.stringify({ based_on: basedOn(), at: Date.now(), values: values() })
      );
    } catch (error) {
      // Storage full or refused (private mode): the server's copy still holds.
    }
  }

  // Logging in (in another tab) gives the browser a new CSRF token: take it from the
  // cookie into this form, so that drafts, and the save, go through again.
  function freshToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    const field = form.elements.csrfmiddlewaretoken;
    if (!found || !field) return false;
    const token = decodeURIComponent(found.slice("csrftoken=".length));
    if (token === field.value) return false;
    field.value = token;
    return true;
  }

  function forget() {
    try {
      localStorage.removeItem(key);
    } catch (error) {
      // Storage refused: nothing was kept.
    }
  }

  function send(retried) {
    clearTimeout(timer);
    const sending = generation;
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      redirect: "manual",
      headers: { Accept: "application/json" },
    })
      .then((response) => {
        if (response.status === 403 && !retried && freshToken()) {
          send(true);
          return null;
        }
        if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
          say(status.dataset.signedOut);
          return null;
        }
        if (!(response.headers.get("Content-Type") || "").includes("json")) {
          say(status.dataset.failed);
          return null;
        }
        return response.json().then((body) => {
          if (!response.ok) {
            say(body.detail);
            return;
          }
          if (sending === generation) {
            dirty = false;
            forget(); // the server has it: nothing typed need stay in this browser
          }
          say(body.label);
        });
      })
      .catch(() => say(status.dataset.offline));
  }

  function changed() {
    dirty = true;
    generation += 1;
    keepHere();
    say(status.dataset.typing);
    clearTimeout(timer);
    timer = setTimeout(() => send(false), DELAY);
  }

  function sendNow() {
    if (!dirty) return;
    clearTimeout(timer);
    // A beacon outlives the page; the form's CSRF token travels in its body. Sent once:
    // hiding and then closing the tab do not send it twice.
    if (navigator.sendBeacon && navigator.sendBeacon(url, new FormData(form))) dirty = false;
  }

  function restore(kept) {
    for (const field of form.elements) {
      if (!field.name || field.name === "csrfmiddlewaretoken" || field.name === "based_on") continue;
      if (field.type === "radio" || field.type === "checkbox") field.checked = false;
      else if (field.tagName === "SELECT" || field.tagName === "TEXTAREA") field.value = "";
    }
    for (const [name, value] of kept.values) {
      for (const field of form.querySelectorAll('[name="' + CSS.escape(name) + '"]')) {
        if (field.type === "radio" || field.type === "checkbox") {
          if (field.value === value) field.checked = true;
        } else {
          field.value = value;
        }
      }
    }
    // The ranking list follows the selects (label.js).
    const select = form.querySelector(".rank-select");
    if (select) select.dispatchEvent(new Event("change"));
  }

  let kept = null;
  try {
    kept = JSON.parse(localStorage.getItem(key) || "null");
  } catch (error) {
    kept = null;
  }
  if (kept && kept.based_on !== basedOn()) {
    // Saved since (here or elsewhere): the copy is old.
    localStorage.removeItem(key);
  } else if (kept && Array.isArray(kept.values)) {
    restore(kept);
    say(status.dataset.restored);
    dirty = true;
    send(false);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("labels-changed", changed);
  form.addEventListener("submit", () => {
    // Saving makes drafts old; the copy here stays until the page shows the saved version.
    dirty = false;
    clearTimeout(timer);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") sendNow();
  });
  window.addEventListener("pagehide", sendNow);
})();
