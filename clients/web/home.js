// Home page: public videos, newest first, from the catalog's JSON API (GET /v1/videos), with
// their view counts (one BatchGetViewCounts call per page of cards, view-counts.js).
"use strict";

const list = document.getElementById("videos");
const status = document.getElementById("status");
const more = document.getElementById("more");
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

async function loadPage() {
  more.hidden = true;
  const query = new URLSearchParams({ pageSize: "24" });
  if (nextPageToken) query.set("pageToken", nextPageToken);
  try {
    const response = await fetch(`/v1/videos?${query}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    const ready = (body.videos || []).filter((v) => v.status === "VIDEO_STATUS_READY");
    list.append(...ready.map(card));
    showViewCounts(ready.map((v) => v.id));
    nextPageToken = body.nextPageToken || "";
    more.hidden = !nextPageToken;
    status.textContent = list.children.length ? "" : "No videos yet.";
  } catch (error) {
    status.textContent = `Could not load videos: ${error.message}`;
  }
}

async function showViewCounts(ids) {
  // A card without its count is still a card: a failure here leaves the line empty.
  const counts = await fetchViewCounts(ids).catch(() => new Map());
  for (const line of list.querySelectorAll(".views")) {
    if (counts.has(line.dataset.video)) line.textContent = viewsText(counts.get(line.dataset.video));
  }
}

more.addEventListener("click", loadPage);
loadPage();
