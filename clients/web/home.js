// Home page: two rows of recommendations ("Recommended for you" and "Trending", recs.js), then
// public videos, newest first, from the catalog's JSON API (GET /v1/videos); every card with its
// view count (one BatchGetViewCounts call per set of cards, view-counts.js).
"use strict";

const list = document.getElementById("videos");
const status = document.getElementById("status");
const more = document.getElementById("more");
// Shown with the first page: while loading, "Loading…" is all there is, so the rows coming in
// above move nothing that was on screen.
const latestHeading = document.getElementById("latest-heading");
const ROW_SIZE = 20;
let nextPageToken = "";

function hlsRoot(video) {
  // masterPlaylistPath is "/hls/{video}/{version}/master.m3u8" (videos transcoded before
  // that was documented lack the leading slash)
  return "/" + video.masterPlaylistPath.replace(/^\//, "").replace(/master\.m3u8$/, "");
}

function formatDuration(protoDuration) {
  const total = Math.round(parseFloat(protoDuration || "0"));
  const minutes = Math.floor(total / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

function noPoster() {
  const frame = document.createElement("div");
  frame.className = "noposter";
  return frame;
}

function card(video) {
  const item = document.createElement("li");
  item.className = "card";
  const link = document.createElement("a");
  link.href = `/watch/${encodeURIComponent(video.id)}`;
  const poster = document.createElement("img");
  poster.src = hlsRoot(video) + "poster.jpg";
  poster.alt = "";
  poster.loading = "lazy";
  poster.addEventListener("error", () => poster.replaceWith(noPoster()), { once: true }); // a frame, not a broken icon
  const meta = document.createElement("div");
  meta.className = "meta";
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = video.title;
  const details = document.createElement("div");
  details.className = "muted";
  details.textContent = `${video.owner} · ${formatDuration(video.source && video.source.duration)}`;
  const views = document.createElement("div");
  views.className = "muted views";
  views.dataset.video = video.id;
  meta.append(title, details, views);
  link.append(poster, meta);
  item.append(link);
  return item;
}

// A recommended video's card: the home page's card, with why it is there; its impression and
// click are recorded by its token.
function recommendationCard(recommendation) {
  const item = card(recommendation.video);
  const why = document.createElement("div");
  why.className = "why";
  why.textContent = reasonText(recommendation.reason);
  item.querySelector(".meta").prepend(why);
  recsFeedback().watch(item, recommendation.token);
  return item;
}

function showRow(section, recommendations) {
  const row = section.querySelector(".shelf");
  row.replaceChildren(...recommendations.map(recommendationCard));
  section.hidden = !recommendations.length;
  if (recommendations.length) setupPager(section, row);
}

// Rows scroll sideways (touch, trackpad, the scrollbar, the keyboard's focus); the pager's two
// buttons scroll about a screenful, for a mouse. A button at its end is disabled rather than
// hidden, so the other does not move under the pointer; a row that fits has no pager.
function setupPager(section, row) {
  const pager = section.querySelector(".pager");
  const [back, on] = pager.querySelectorAll("button");
  const update = () => {
    back.disabled = row.scrollLeft <= 1;
    on.disabled = row.scrollLeft + row.clientWidth >= row.scrollWidth - 1;
    pager.hidden = back.disabled && on.disabled;
  };
  for (const button of [back, on]) {
    button.addEventListener("click", () => row.scrollBy({ left: Number(button.dataset.page) * row.clientWidth * 0.9, behavior: "smooth" }));
  }
  row.addEventListener("scroll", update, { passive: true });
  new ResizeObserver(update).observe(row);
}

// "Recommended for you" is the home feed's personal entries: a new viewer's feed is all trending,
// which the Trending row shows already, so the row appears once the viewer has a personal list.
// Trending leaves out what the first row shows. Never rejects: a failed call is an empty row.
async function askRecommendations() {
  const viewerId = anonymousViewerId();
  const [feed, trending] = await Promise.allSettled([
    fetchRecommendations({ viewerId, pageSize: ROW_SIZE }),
    fetchRecommendations({ viewerId, pageSize: ROW_SIZE, trendingOnly: true }),
  ]);
  const personal = feed.status === "fulfilled" ? feed.value.filter((r) => r.reason === "RECOMMENDATION_REASON_PERSONALIZED") : [];
  const inFirstRow = new Set(personal.map((r) => r.video.id));
  const hot = trending.status === "fulfilled" ? trending.value.filter((r) => !inFirstRow.has(r.video.id)) : [];
  return { personal, hot, failed: feed.status === "rejected" || trending.status === "rejected" };
}

// Asked for now, beside the first page of videos, and shown with that page (at most
// fetchRecommendations' timeout later), so rows and cards appear in one frame: rows arriving
// first would push the "Loading…" line down, rows arriving later the cards.
const recommendationsAsked = askRecommendations();
let rowsShown = false;

async function showRowsOnce() {
  if (rowsShown) return;
  rowsShown = true;
  await showLiveNow(); // live-now.js: asked for as the page loaded, like the recommendations
  const { personal, hot, failed } = await recommendationsAsked;
  showRow(document.getElementById("recommended"), personal);
  showRow(document.getElementById("trending"), hot);
  // Rows that cannot be had simply are not there; a quiet line says so only if none shows.
  const note = document.getElementById("recs-status");
  note.textContent = "Recommendations are unavailable right now.";
  note.hidden = !(failed && !personal.length && !hot.length);
  showViewCounts([...personal, ...hot].map((r) => r.video.id));
}

async function loadPage() {
  more.hidden = true;
  const query = new URLSearchParams({ pageSize: "24" });
  if (nextPageToken) query.set("pageToken", nextPageToken);
  try {
    const response = await fetch(`/v1/videos?${query}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    const ready = (body.videos || []).filter((v) => v.status === "VIDEO_STATUS_READY");
    await showRowsOnce();
    latestHeading.hidden = false;
    list.append(...ready.map(card));
    showViewCounts(ready.map((v) => v.id));
    nextPageToken = body.nextPageToken || "";
    more.hidden = !nextPageToken;
    status.textContent = list.children.length ? "" : "No videos yet.";
  } catch (error) {
    await showRowsOnce();
    latestHeading.hidden = false;
    status.textContent = `Could not load videos: ${error.message}`;
  }
}

async function showViewCounts(ids) {
  // A card without its count is still a card: a failure here leaves the line empty.
  const counts = await fetchViewCounts(ids).catch(() => new Map());
  for (const line of document.querySelectorAll(".views[data-video]")) {
    if (counts.has(line.dataset.video)) line.textContent = viewsText(counts.get(line.dataset.video));
  }
}

more.addEventListener("click", loadPage);
loadPage();
