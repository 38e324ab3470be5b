// Search results: /search?q=WORDS[&duration=][&date=][&order=][&tags=A&tags=B], run through
// SearchVideos (GET /v1/videos:search). The URL is the whole state: every chip is a link to the
// same search with one thing changed, followed in place (history.pushState) so the back button
// walks through the searches. Server text is shown as text nodes and <mark>s only.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;
const MAX_TAGS = 10; // the most SearchVideos takes
const RETRY_BUILDING_MS = 3000;
const DAY_MS = 24 * 3600 * 1000;

// The filter chips: the URL parameter, its choices (the first one is "no filter") and what each
// adds to the request. Upload dates are rolling windows that end now.
const FILTERS = [
  {
    param: "duration",
    label: "Duration",
    choices: [
      { value: "", text: "Any" },
      { value: "short", text: "Under 4 min", request: { maxDuration: "240s" } },
      { value: "medium", text: "4–20 min", request: { minDuration: "240s", maxDuration: "1200s" } },
      { value: "long", text: "Over 20 min", request: { minDuration: "1200s" } },
    ],
  },
  {
    param: "date",
    label: "Upload date",
    choices: [
      { value: "", text: "Any" },
      { value: "today", text: "Today", days: 1 },
      { value: "week", text: "This week", days: 7 },
      { value: "month", text: "This month", days: 30 },
      { value: "year", text: "This year", days: 365 },
    ],
  },
  {
    param: "order",
    label: "Sort by",
    choices: [
      { value: "", text: "Relevance" },
      { value: "recent", text: "Upload date", request: { order: "SEARCH_ORDER_RECENT" } },
      { value: "popular", text: "View count", request: { order: "SEARCH_ORDER_POPULAR" } },
    ],
  },
];

const list = $("results");
const status = $("status");
const more = $("more");
const input = $("search-q");

// The search on screen. Its request parameters are kept: a next page must be asked for with
// exactly the same ones (an upload-date window recomputed later would void the page token).
let current = null;

// -- the URL ---------------------------------------------------------------------------------

function readUrl() {
  const params = new URLSearchParams(location.search);
  const state = { q: (params.get("q") || "").trim(), tags: [], filters: {} };
  for (const filter of FILTERS) {
    const value = params.get(filter.param) || "";
    state.filters[filter.param] = filter.choices.some((c) => c.value === value) ? value : "";
  }
  for (const raw of params.getAll("tags")) {
    const tag = raw.trim();
    if (tag && !hasTag(state, tag)) state.tags.push(tag);
  }
  return state;
}

function hasTag(state, tag) {
  return state.tags.some((t) => t.toLowerCase() === tag.toLowerCase()); // the service ignores case
}

function urlFor(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  for (const filter of FILTERS) if (state.filters[filter.param]) params.set(filter.param, state.filters[filter.param]);
  for (const tag of state.tags) params.append("tags", tag);
  const query = params.toString();
  return query ? `/search?${query}` : "/search";
}

const changed = (state, change) => ({ ...state, ...change, filters: { ...state.filters, ...(change.filters || {}) } });
const filtered = (state) => state.tags.length > 0 || FILTERS.some((f) => state.filters[f.param]);

function requestParams(state, now) {
  const params = new URLSearchParams();
  if (state.q) params.set("query", state.q);
  for (const tag of state.tags) params.append("tags", tag);
  for (const filter of FILTERS) {
    const choice = filter.choices.find((c) => c.value === state.filters[filter.param]);
    for (const [name, value] of Object.entries(choice.request || {})) params.set(name, value);
    if (choice.days) params.set("minCreateTime", new Date(now - choice.days * DAY_MS).toISOString());
  }
  params.set("pageSize", String(PAGE_SIZE));
  return params;
}

// -- the API ---------------------------------------------------------------------------------

// What went wrong, in words for the page: a title, a detail, whether trying again may help
// (not for a refused request) and after how long the page tries again by itself.
class SearchProblem extends Error {
  constructor(title, detail, { transient = false, retryMs = 0 } = {}) {
    super(title);
    this.detail = detail;
    this.transient = transient;
    this.retryMs = retryMs;
  }
}

const FIELD_NAMES = { query: "Search text", tags: "Tags", min_duration: "Duration", max_duration: "Duration", page_size: "Page size" };

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  return trimmed[0].toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

// A refusal's google.rpc.Status (code, message, details) as a SearchProblem.
function explain(httpStatus, body) {
  const details = (body && body.details) || [];
  const ofType = (type) => details.filter((d) => String(d["@type"] || "").endsWith(type));
  const reason = (ofType("google.rpc.ErrorInfo")[0] || {}).reason || "";
  if (reason === "SEARCH_INDEX_BUILDING") {
    return new SearchProblem("Search is getting ready", "The search index is being built; this page tries again in a few seconds.", {
      transient: true,
      retryMs: RETRY_BUILDING_MS,
    });
  }
  if (reason === "INVALID_PAGE_TOKEN" || reason === "PAGE_TOKEN_MISMATCH") {
    return new SearchProblem("These results are out of date", "Search again to see the latest results.");
  }
  if (httpStatus === 400) {
    const violations = ofType("google.rpc.BadRequest").flatMap((d) => d.fieldViolations || []);
    const said = violations.map((v) => `${FIELD_NAMES[String(v.field).replace(/\[\d+\]$/, "")] || v.field}: ${v.description}`);
    return new SearchProblem("This search cannot be run", sentence(said.join("; ") || (body && body.message) || "The request was refused"));
  }
  if (httpStatus === 503 || httpStatus === 502 || httpStatus === 504) {
    return new SearchProblem("Search is unavailable right now", "Please try again in a moment.", { transient: true });
  }
  const transient = httpStatus >= 500;
  return new SearchProblem("Something went wrong", sentence((body && body.message) || `The server answered HTTP ${httpStatus}`), { transient });
}

async function callSearch(params, signal) {
  let response;
  try {
    response = await fetch(`/v1/videos:search?${params}`, { signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new SearchProblem("vidmesh cannot be reached", "Check your connection and try again.", { transient: true });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok || !body) throw explain(response.status, body);
  return body;
}

// -- formatting ------------------------------------------------------------------------------

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat("en-US");
const relative = new Intl.RelativeTimeFormat("en", { numeric: "always" });
const AGE_UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

function viewsText(views) {
  if (!views) return "No views";
  return `${compact.format(views)} ${views === 1 ? "view" : "views"}`;
}

function lengthText(protoDuration) {
  const total = Math.round(parseFloat(protoDuration || "0") || 0);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

function ageText(timestamp, now) {
  const seconds = (now - Date.parse(timestamp)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  for (const [unit, size] of AGE_UNITS) if (seconds >= size) return relative.format(-Math.floor(seconds / size), unit);
  return "just now";
}

function resultsText(total) {
  return `${whole.format(total)} ${total === 1 ? "result" : "results"}`;
}

// -- a hit -----------------------------------------------------------------------------------

function hlsRoot(video) {
  // As home.js: "/hls/{video}/{version}/master.m3u8", with or without its leading slash.
  return "/" + video.masterPlaylistPath.replace(/^\//, "").replace(/master\.m3u8$/, "");
}

function marked(parts) {
  return parts.map((part) => {
    if (!part.highlighted) return document.createTextNode(part.text || "");
    const mark = document.createElement("mark");
    mark.textContent = part.text || "";
    return mark;
  });
}

// The field's text now, with the snippet's marks where the snippet still matches it. Snippets
// come from the index and the video from the catalog: after an edit they can differ, and then
// the text is shown plain. A passage cut out of a longer text gets ellipses.
function withMarks(text, snippet, ellipses) {
  if (snippet) {
    const passage = snippet.parts.map((p) => p.text || "").join("");
    const at = passage ? text.indexOf(passage) : -1;
    if (at >= 0) {
      const before = text.slice(0, at);
      const after = text.slice(at + passage.length);
      if (!ellipses) return [before, ...marked(snippet.parts), after];
      return [before.trim() ? "…" : "", ...marked(snippet.parts), after.trim() ? "…" : ""];
    }
  }
  return [text];
}

function snippetOf(hit, field) {
  return (hit.snippets || []).find((s) => s.field === field && (s.parts || []).length);
}

function element(tag, className, ...children) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  made.append(...children);
  return made;
}

function hitItem(hit, state, now) {
  const video = hit.video;
  const href = `/watch/${encodeURIComponent(video.id)}`;
  const item = element("li", hit.fuzzy ? "hit fuzzy" : "hit");
  item.dataset.video = video.id;

  // The picture repeats the title's link for the pointer; keyboards and screen readers get one link.
  const thumb = element("a", "thumb");
  thumb.href = href;
  thumb.tabIndex = -1;
  thumb.setAttribute("aria-hidden", "true");
  if (video.masterPlaylistPath) {
    const poster = document.createElement("img");
    poster.src = hlsRoot(video) + "poster.jpg";
    poster.alt = "";
    poster.loading = "lazy";
    poster.addEventListener("error", () => (poster.hidden = true), { once: true }); // the placeholder shows instead
    thumb.append(poster);
  }
  thumb.append(element("span", "length", lengthText(video.source && video.source.duration)));

  const link = element("a", "", ...withMarks(video.title || "Untitled", snippetOf(hit, "title"), false));
  link.href = href;
  const title = element("h2", "hit-title", link);

  const facts = [viewsText(Number(hit.viewCount || 0)), ageText(video.createTime, now)].filter(Boolean).join(" · ");
  const meta = element("p", "hit-meta", facts);
  if (hit.fuzzy) meta.append(element("span", "fuzzy-note", "similar spelling"));
  const owner = element("p", "hit-owner", video.owner || "");

  const text = element("div", "hit-text", title, meta, owner);
  const description = video.description || "";
  if (description) text.append(element("p", "hit-snippet", ...withMarks(description, snippetOf(hit, "description"), true)));

  const tags = (video.tags || []).slice(0, 8);
  if (tags.length) {
    const row = element("ul", "hit-tags");
    row.setAttribute("aria-label", "Tags");
    for (const tag of tags) {
      let chip;
      if (hasTag(state, tag) || state.tags.length >= MAX_TAGS) {
        chip = element("span", hasTag(state, tag) ? "tag on" : "tag", `#${tag}`);
      } else {
        chip = element("a", "tag", `#${tag}`);
        chip.href = urlFor(changed(state, { tags: [...state.tags, tag] }));
        chip.dataset.nav = "";
        chip.dataset.key = `tags=${tag.toLowerCase()}`; // focus moves on to the filter chip it makes
        chip.title = `Only videos tagged ${tag}`;
      }
      row.append(element("li", "", chip));
    }
    text.append(row);
  }
  item.append(thumb, text);
  return item;
}

// -- the page --------------------------------------------------------------------------------

// key: names the chip across re-renders, so the keyboard's focus can come back to it.
function chip(text, href, on, key, label) {
  const made = element("a", on ? "chip on" : "chip", text);
  made.href = href;
  made.dataset.nav = "";
  made.dataset.key = key;
  if (on) made.setAttribute("aria-current", "true");
  if (label) made.setAttribute("aria-label", label);
  return made;
}

function showFilters(state) {
  const groups = FILTERS.map((filter) => {
    const label = element("span", "filter-label", filter.label);
    label.id = `filter-${filter.param}`;
    const chips = filter.choices.map((c) => {
      const href = urlFor(changed(state, { filters: { [filter.param]: c.value } }));
      return chip(c.text, href, state.filters[filter.param] === c.value, `${filter.param}=${c.value}`);
    });
    const group = element("div", "filter-group", label, element("div", "chips", ...chips));
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", label.id);
    return group;
  });
  if (state.tags.length || filtered(state)) {
    const label = element("span", "filter-label", "Tags");
    label.id = "filter-tags";
    const chips = state.tags.map((tag) => {
      const without = urlFor(changed(state, { tags: state.tags.filter((t) => t !== tag) }));
      const remove = chip(`#${tag}`, without, true, `tags=${tag.toLowerCase()}`, `Remove tag ${tag}`);
      remove.append(element("span", "x", "×"));
      remove.lastChild.setAttribute("aria-hidden", "true");
      return remove;
    });
    const clear = element("a", "clear-filters", "Clear filters");
    clear.href = urlFor({ q: state.q, tags: [], filters: {} });
    clear.dataset.nav = "";
    const group = element("div", "filter-group", ...(chips.length ? [label, element("div", "chips", ...chips)] : []), clear);
    if (chips.length) {
      group.setAttribute("role", "group");
      group.setAttribute("aria-labelledby", label.id);
    }
    groups.push(group);
  }
  $("filters").replaceChildren(...groups);
  $("filters").hidden = false;
}

function showProblem(problem, search) {
  $("problem-title").textContent = problem.message;
  $("problem-detail").textContent = problem.detail || "";
  $("retry-line").hidden = !problem.transient;
  $("problem").hidden = false;
  status.textContent = "";
  if (problem.retryMs) setTimeout(() => current === search && run(search.state), problem.retryMs);
}

function showDidYouMean(state, suggested) {
  const link = $("did-you-mean-link");
  link.textContent = suggested || "";
  link.href = urlFor(changed(state, { q: suggested || "" }));
  link.dataset.nav = "";
  $("did-you-mean").hidden = !suggested;
}

function showPage(search, body) {
  const now = Date.now();
  const fresh = (body.hits || []).filter((hit) => hit.video && !search.shown.has(hit.video.id));
  for (const hit of fresh) search.shown.add(hit.video.id);
  list.append(...fresh.map((hit) => hitItem(hit, search.state, now)));
  search.token = body.nextPageToken || "";
  more.hidden = !search.token;
}

async function run(state) {
  if (current) current.controller.abort();
  const search = { state, params: requestParams(state, Date.now()), controller: new AbortController(), shown: new Set(), token: "" };
  current = search;

  input.value = state.q;
  document.title = state.q ? `${state.q} · Search · vidmesh` : "Search · vidmesh";
  $("heading").textContent = state.q ? `Results for “${state.q}”` : "Search";
  showFilters(state);
  for (const id of ["problem", "empty", "more-problem", "did-you-mean"]) $(id).hidden = true;
  more.hidden = true;

  if (!state.q && !state.tags.length) {
    list.replaceChildren();
    status.textContent = "Search for videos by their title, description or tags.";
    input.focus();
    return;
  }
  // The results of the last search stay, dimmed, until the new ones arrive: no blank flash.
  list.setAttribute("aria-busy", "true");
  if (!list.children.length) status.textContent = "Searching…";
  try {
    const body = await callSearch(search.params, search.controller.signal);
    if (search !== current) return;
    list.replaceChildren();
    showPage(search, body);
    const total = Number(body.totalSize || 0);
    showDidYouMean(state, body.suggestedQuery);
    if (!list.children.length) {
      status.textContent = "";
      $("empty-title").textContent = state.q ? `No results for “${state.q}”` : "No videos match these filters";
      $("empty-filters").hidden = !filtered(state);
      $("clear-filters").href = urlFor({ q: state.q, tags: [], filters: {} });
      $("clear-filters").dataset.nav = "";
      $("empty").hidden = false;
    } else {
      // Typo-tolerant hits come on top of the total (it counts exact matches only).
      const similar = (body.hits || []).filter((h) => h.fuzzy).length;
      if (!total) status.textContent = "No exact matches; showing similar spellings";
      else status.textContent = resultsText(total) + (similar ? `, and ${whole.format(similar)} with a similar spelling` : "");
    }
  } catch (error) {
    if (search !== current || error.name === "AbortError") return;
    list.replaceChildren();
    const problem = error instanceof SearchProblem ? error : new SearchProblem("Something went wrong", String(error.message || error), { transient: true });
    showProblem(problem, search);
  } finally {
    if (search === current) list.removeAttribute("aria-busy");
  }
}

async function loadMore() {
  const search = current;
  const params = new URLSearchParams(search.params);
  params.set("pageToken", search.token);
  more.disabled = true;
  $("more-problem").hidden = true;
  try {
    const body = await callSearch(params, search.controller.signal);
    if (search === current) showPage(search, body);
  } catch (error) {
    if (search !== current || error.name === "AbortError") return;
    const problem = error instanceof SearchProblem ? error : new SearchProblem("Something went wrong", "");
    $("more-problem").textContent = `Could not load more results: ${problem.message}. ${problem.detail || ""}`.trim();
    $("more-problem").hidden = false;
  } finally {
    more.disabled = false;
  }
}

// Links within the search (chips, tags, "did you mean") change the results in place; a click
// with a modifier key still opens a new tab as links do.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  history.pushState(null, "", link.href);
  run(readUrl()); // draws the chips anew before its first await
  window.scrollTo({ top: 0 });
  const again = link.dataset.key && $("filters").querySelector(`[data-key="${CSS.escape(link.dataset.key)}"]`);
  if (again) again.focus({ preventScroll: true });
});
window.addEventListener("popstate", () => run(readUrl()));
more.addEventListener("click", loadMore);
$("retry").addEventListener("click", () => run(current.state));
run(readUrl());
