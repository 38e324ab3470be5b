// The search box in every page's header: a GET form to /search?q=..., and completions from
// SuggestQueries (GET /v1/videos:suggest) while the user types. It follows the ARIA combobox
// pattern: focus stays in the input, the arrow keys move aria-activedescendant through the
// listbox, Enter takes the marked option (or the text as typed), Escape closes the list.
"use strict";

const SUGGEST_DELAY_MS = 120; // one call per pause in typing, not one per key

// The box's markup, in one place for every page (each header holds an empty form.search-box).
const BOX_HTML = `
  <input id="search-q" name="q" type="search" placeholder="Search videos" aria-label="Search videos" maxlength="200"
    autocomplete="off" spellcheck="false" enterkeyhint="search"
    role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="search-suggestions">
  <button class="search-go" type="submit" aria-label="Search">
    <svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="10.5" cy="10.5" r="6.25"/><path d="m15.2 15.2 5.3 5.3"/></svg>
  </button>
  <ul id="search-suggestions" class="suggestions" role="listbox" aria-label="Suggestions" hidden></ul>`;

function searchBox(form) {
  form.innerHTML = BOX_HTML; // static markup of ours, never server text
  const input = form.querySelector("input[name=q]");
  const list = form.querySelector("[role=listbox]");
  let timer = 0;
  let pending = null; // the AbortController of the latest suggest call
  let active = -1;

  const options = () => [...list.children];

  function close() {
    list.hidden = true;
    list.replaceChildren();
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function cancel() {
    clearTimeout(timer);
    if (pending) pending.abort();
    pending = null;
  }

  function mark(index) {
    const all = options();
    active = index;
    all.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index < 0) {
      input.removeAttribute("aria-activedescendant");
      return;
    }
    input.setAttribute("aria-activedescendant", all[index].id);
    all[index].scrollIntoView({ block: "nearest" });
  }

  // An option shows what was typed plainly and the completion in bold, as text nodes only.
  function option(suggestion, typed, index) {
    const item = document.createElement("li");
    item.id = `${list.id}-${index}`;
    item.setAttribute("role", "option");
    item.setAttribute("aria-selected", "false");
    item.dataset.value = suggestion;
    const head = typed.trimStart().toLowerCase();
    if (head && suggestion.toLowerCase().startsWith(head)) {
      const rest = document.createElement("b");
      rest.textContent = suggestion.slice(head.length);
      item.append(suggestion.slice(0, head.length), rest);
    } else {
      item.textContent = suggestion;
    }
    return item;
  }

  function show(typed, suggestions) {
    if (!suggestions.length || document.activeElement !== input) {
      close();
      return;
    }
    list.replaceChildren(...suggestions.map((s, i) => option(s, typed, i)));
    active = -1;
    input.removeAttribute("aria-activedescendant");
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  async function suggest(typed) {
    cancel();
    const controller = new AbortController();
    pending = controller;
    try {
      const response = await fetch(`/v1/videos:suggest?${new URLSearchParams({ prefix: typed })}`, { signal: controller.signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      // An answer to an older prefix (the user kept typing) is dropped.
      if (controller === pending && input.value === typed) show(typed, body.suggestions || []);
    } catch {
      // Suggestions are a convenience: without them the box still searches.
      if (controller === pending) close();
    } finally {
      if (controller === pending) pending = null;
    }
  }

  function choose(item) {
    input.value = item.dataset.value;
    cancel();
    close();
  }

  input.addEventListener("input", () => {
    cancel();
    const typed = input.value;
    if (!typed.trim()) {
      close();
      return;
    }
    timer = setTimeout(() => suggest(typed), SUGGEST_DELAY_MS);
  });

  input.addEventListener("keydown", (event) => {
    if (event.isComposing) return; // the keys belong to the input method until it commits
    const count = options().length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (list.hidden) {
        if (input.value.trim()) suggest(input.value);
        event.preventDefault();
        return;
      }
      event.preventDefault(); // not the caret's move to the start or end
      // -1 is the text as typed: past either end of the list the marking comes back to it.
      if (event.key === "ArrowDown") mark(active + 1 < count ? active + 1 : -1);
      else mark(active === -1 ? count - 1 : active - 1);
    } else if (event.key === "Enter" && active >= 0) {
      choose(options()[active]); // the form's own submission follows, with the chosen text
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault(); // a search input would also clear its text
      cancel();
      close();
    }
  });

  // mousedown would move the focus out of the input and close the list before the click lands.
  list.addEventListener("mousedown", (event) => event.preventDefault());
  list.addEventListener("click", (event) => {
    const item = event.target.closest("[role=option]");
    if (!item) return;
    choose(item);
    form.requestSubmit();
  });

  input.addEventListener("blur", () => {
    cancel();
    close();
  });

  form.addEventListener("submit", (event) => {
    cancel();
    close();
    if (!input.value.trim()) {
      event.preventDefault();
      input.focus();
    }
  });
}

for (const form of document.querySelectorAll("form.search-box")) searchBox(form);
