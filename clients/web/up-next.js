// "Up next" on the watch page: what to watch after this video (GetRecommendations with
// seed_video, recs.js), beside the player on wide screens and below it on phones. With Autoplay
// on, the end of the video starts a short countdown over the player (cancel it, or play the
// next video now), then opens the first entry. Autoplay is off until the viewer turns it on;
// the choice is kept in localStorage for the next pages.
"use strict";

const UP_NEXT_SIZE = 12;
const COUNTDOWN_SECONDS = 5;
const AUTOPLAY_KEY = "vidmesh.autoplay";

function autoplayChosen() {
  try {
    return localStorage.getItem(AUTOPLAY_KEY) === "on";
  } catch {
    return false; // storage blocked: off, as for everyone who has not chosen
  }
}

function rememberAutoplay(on) {
  try {
    localStorage.setItem(AUTOPLAY_KEY, on ? "on" : "off");
  } catch {
    // Not kept: the switch still works on this page.
  }
}

function upNextLength(protoDuration) {
  const total = Math.round(parseFloat(protoDuration || "0") || 0);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

function upNextElement(tag, className, ...children) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  made.append(...children);
  return made;
}

// One entry: the poster (a neutral frame when there is none) with the length over it, the
// title, the owner and why it is recommended. Server text goes in as text only.
function upNextItem(recommendation) {
  const video = recommendation.video;
  const thumb = upNextElement("span", "next-thumb");
  if (video.masterPlaylistPath) {
    const poster = document.createElement("img");
    poster.src = "/" + video.masterPlaylistPath.replace(/^\//, "").replace(/master\.m3u8$/, "poster.jpg");
    poster.alt = "";
    poster.loading = "lazy";
    poster.addEventListener("error", () => (poster.hidden = true), { once: true });
    thumb.append(poster);
  }
  thumb.append(upNextElement("span", "length", upNextLength(video.source && video.source.duration)));
  const text = upNextElement(
    "span",
    "next-text",
    upNextElement("span", "next-title", video.title || "Untitled"),
    upNextElement("span", "next-owner", video.owner || ""),
    upNextElement("span", "why", reasonText(recommendation.reason)),
  );
  const link = upNextElement("a", "", thumb, text);
  link.href = `/watch/${encodeURIComponent(video.id)}`;
  const item = upNextElement("li", "next-item", link);
  item.dataset.video = video.id;
  recsFeedback().watch(item, recommendation.token);
  return item;
}

// The countdown over the ended video. start() shows it and opens the entry when it runs out;
// anything the viewer does with the player (play, seek) or the switch cancels it.
function countdown(player, onCancel) {
  const overlay = document.getElementById("countdown");
  const seconds = document.getElementById("countdown-seconds");
  let timer = 0;
  let target = null;

  function stop() {
    clearInterval(timer);
    timer = 0;
    overlay.hidden = true;
  }

  function go(clicked) {
    stop();
    // Playing it now is the viewer's choice, a click on that entry; running out is not.
    if (clicked) recsFeedback().click(target.token);
    location.assign(`/watch/${encodeURIComponent(target.video.id)}`);
  }

  function start(recommendation) {
    target = recommendation;
    let left = COUNTDOWN_SECONDS;
    seconds.textContent = String(left);
    document.getElementById("countdown-title").textContent = recommendation.video.title || "Untitled";
    overlay.hidden = false;
    clearInterval(timer);
    timer = setInterval(() => {
      left -= 1;
      seconds.textContent = String(left);
      if (left <= 0) go(false);
    }, 1000);
  }

  document.getElementById("countdown-cancel").addEventListener("click", () => {
    stop();
    onCancel();
  });
  document.getElementById("countdown-play").addEventListener("click", () => go(true));
  for (const event of ["play", "seeking"]) {
    player.addEventListener(event, () => {
      if (timer) stop();
    });
  }
  return { start, stop, running: () => timer !== 0 };
}

function startUpNext({ player, videoId }) {
  const aside = document.getElementById("up-next");
  const list = document.getElementById("up-next-list");
  const status = document.getElementById("up-next-status");
  const autoplay = document.getElementById("autoplay");
  let first = null;

  // The column is there from the start (a placeholder line until the list comes), so the player
  // does not change size under the viewer when the list arrives.
  document.querySelector("main.watch").classList.add("with-up-next");
  aside.hidden = false;
  status.textContent = "Loading…";

  const autoNext = countdown(player, () => autoplay.focus());
  autoplay.checked = autoplayChosen();
  autoplay.addEventListener("change", () => {
    rememberAutoplay(autoplay.checked);
    if (!autoplay.checked) autoNext.stop();
  });
  player.addEventListener("ended", () => {
    if (autoplay.checked && first) autoNext.start(first);
  });
  // For tests and operators.
  window.vidmeshUpNext = { countdownRunning: autoNext.running };

  fetchRecommendations({ viewerId: anonymousViewerId(), seedVideo: `videos/${videoId}`, pageSize: UP_NEXT_SIZE })
    .then((recommendations) => {
      list.replaceChildren(...recommendations.map(upNextItem));
      first = recommendations[0] || null;
      status.textContent = first ? "" : "Nothing to suggest yet.";
    })
    .catch(() => {
      status.textContent = "Suggestions are unavailable right now.";
    });
}
