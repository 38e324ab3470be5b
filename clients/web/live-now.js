// The home page's "Live now" row: public streams on air (ListStreams with state LIVE, the most
// recently started first), each card linking to its live watch page (/stream/{id}). Asked for
// as the page loads; home.js shows the row with the recommendation rows, in one frame, so rows
// coming in do not move what is on screen. Nobody live, or a failed call: no row.
"use strict";

const LIVE_NOW_SIZE = 20;

const liveNowAsked = (async () => {
  try {
    const response = await fetch(`/v1/streams?state=LIVE_STREAM_STATE_LIVE&pageSize=${LIVE_NOW_SIZE}`);
    if (!response.ok) return [];
    return (await response.json()).streams || [];
  } catch {
    return [];
  }
})();

function liveCard(stream) {
  const item = document.createElement("li");
  item.className = "card live-card";
  const link = document.createElement("a");
  link.href = `/stream/${encodeURIComponent(stream.id)}`;
  // No picture of a stream to show (it has no poster): a frame with its state.
  const frame = document.createElement("div");
  frame.className = "live-frame";
  const tag = document.createElement("span");
  const reconnecting = stream.state === "LIVE_STREAM_STATE_RECONNECTING";
  tag.className = reconnecting ? "live-tag reconnecting" : "live-tag";
  tag.textContent = reconnecting ? "Reconnecting" : "Live";
  frame.append(tag);
  const meta = document.createElement("div");
  meta.className = "meta";
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = stream.title;
  const details = document.createElement("div");
  details.className = "muted";
  const since = stream.startTime ? ` · since ${new Date(stream.startTime).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}` : "";
  details.textContent = `${stream.owner}${since}`;
  meta.append(title, details);
  link.append(frame, meta);
  item.append(link);
  return item;
}

// Never rejects. setupPager is home.js's (the rows' pager for the mouse).
async function showLiveNow() {
  const section = document.getElementById("live-now");
  const row = section.querySelector(".shelf");
  const streams = await liveNowAsked;
  row.replaceChildren(...streams.map(liveCard));
  section.hidden = !streams.length;
  if (streams.length) setupPager(section, row);
}
