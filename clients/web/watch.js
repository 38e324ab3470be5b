// Watch page: /watch/{video}[?token=...]. Plays the master playlist with hls.js (MSE) behind one
// set of controls of its own (play, sound, time, a seek bar with storyboard thumbnails, quality,
// full screen); a video that cannot play gets a message instead of a player. What the player
// does is reported to analytics (player-events.js); the view count under the title follows it.
// Videos anyone with the link may see also get reactions (reactions.js) and an "Up next" list
// with autoplay (up-next.js).
"use strict";

const stage = document.getElementById("stage");
const video = document.getElementById("player");
const playButton = document.getElementById("play");
const muteButton = document.getElementById("mute");
const unmuteButton = document.getElementById("unmute");
const fullscreenButton = document.getElementById("fullscreen");
const elapsed = document.getElementById("elapsed");
const durationLabel = document.getElementById("duration");
const quality = document.getElementById("quality");
const seek = document.getElementById("seek");
const preview = document.getElementById("preview");
const thumb = document.getElementById("thumb");
const previewTime = document.getElementById("preview-time");

const videoId = decodeURIComponent(location.pathname.split("/")[2] || "");
const token = new URLSearchParams(location.search).get("token") || "";
// For tests and operators: what the player did, readable from the page.
const metrics = (window.vidmeshMetrics = { firstFrameMs: null, switches: [], stalls: [], fragments: [], decisions: [] });

function signed(url) {
  return token ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : url;
}

// The page's one place for what the viewer is told: a line while loading, a card for a
// video that cannot play (the player is hidden then: no empty box with dead controls).
function say(text, { detail = "", problem = false } = {}) {
  const notice = document.getElementById("notice");
  document.getElementById("status").textContent = text;
  const more = document.getElementById("detail");
  more.textContent = detail;
  more.hidden = !detail;
  document.getElementById("home-link").hidden = !problem;
  notice.classList.toggle("problem", problem);
  notice.hidden = !text;
  if (problem) {
    stage.hidden = true;
    notice.prepend(document.getElementById("title")); // the video's title, if known, heads the message
  }
}

function sentence(text) {
  const trimmed = text.trim();
  if (!trimmed) return "";
  return trimmed[0].toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

async function fetchVideo() {
  // Started by the inline script in watch.html (GET /v1/videos/{id}, with the token if any).
  const { status, body } = await window.vidmeshVideo;
  if (status === 404) {
    const detail = token
      ? "The link's token is not valid for this video, or has expired. Ask its owner for a new link."
      : "Check the address. A private video plays only from a link its owner shares.";
    throw Object.assign(new Error("This video does not exist or is private."), { detail });
  }
  if (status !== 200) throw Object.assign(new Error("This video could not be loaded."), { detail: body.message || `HTTP ${status}` });
  return body;
}

function watchFirstFrame() {
  const done = () => {
    if (metrics.firstFrameMs === null) metrics.firstFrameMs = performance.now();
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(done);
  else video.addEventListener("playing", done, { once: true });
}

// Renditions are named by the server (the catalog's renditions, e.g. "720p" for 720x1280 as
// for 1280x720); a level is matched to its rendition by its media playlist's path.
function renditionNamer(renditions) {
  return (level) => {
    const path = new URL(level.uri || level.url[0], location.href).pathname;
    const rendition = renditions.find((r) => r.playlistPath && path.endsWith(`/${r.playlistPath}`));
    return rendition ? rendition.name : `${Math.min(level.width, level.height)}p`;
  };
}

function setupQualityMenu(hls, nameOf) {
  const auto = quality.options[0];
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    // Best first, as people read a quality list (and as the catalog lists renditions).
    data.levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => Math.min(b.level.width, b.level.height) - Math.min(a.level.width, a.level.height) || b.level.bitrate - a.level.bitrate)
      .forEach(({ level, index }) => quality.append(new Option(nameOf(level), String(index))));
    quality.disabled = false;
  });
  hls.on(Hls.Events.LEVEL_SWITCHING, (_, data) => {
    metrics.decisions.push({ at: performance.now(), level: data.level, height: hls.levels[data.level].height });
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    const name = nameOf(level);
    metrics.switches.push({ at: video.currentTime, level: data.level, name, height: level.height, bitrate: level.bitrate });
    // Auto says what it picked, so the menu is the one place that shows the quality.
    auto.textContent = hls.autoLevelEnabled ? `Auto (${name})` : "Auto";
  });
  hls.on(Hls.Events.FRAG_LOADED, (_, { frag }) => {
    if (frag.type !== "main") return;
    const { loading, loaded } = frag.stats;
    metrics.fragments.push({ level: frag.level, sn: frag.sn, at: loading.end, ms: loading.end - loading.start, bytes: loaded });
  });
  quality.addEventListener("change", () => {
    // -1 hands the choice back to hls.js's bandwidth estimate.
    hls.currentLevel = Number(quality.value);
    if (quality.value !== "-1") auto.textContent = "Auto";
  });
}

async function setupStoryboard(root) {
  const response = await fetch(signed(`${root}storyboard/index.vtt`));
  if (!response.ok) return;
  const cues = parseVtt(await response.text());
  if (!cues.length) return;
  const show = (seconds, x) => {
    const cue = cues.find((c) => seconds >= c.start && seconds < c.end) || cues[cues.length - 1];
    const [sx, sy, w, h] = cue.xywh;
    thumb.style.width = `${w}px`;
    thumb.style.height = `${h}px`;
    thumb.style.backgroundImage = `url("${new URL(cue.src, location.origin + root + "storyboard/")}")`;
    thumb.style.backgroundPosition = `-${sx}px -${sy}px`;
    previewTime.textContent = formatTime(seconds);
    // Kept inside the player, so a thumbnail near either end is not cut off.
    const half = w / 2 + 2;
    preview.style.left = `${Math.min(Math.max(x, half), seek.getBoundingClientRect().width - half)}px`;
    preview.hidden = false;
  };
  const hide = () => (preview.hidden = true);
  seek.addEventListener("pointermove", (event) => {
    const box = seek.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    show(fraction * Number(seek.max), event.clientX - box.left);
  });
  seek.addEventListener("pointerleave", hide);
  seek.addEventListener("blur", hide);
  seek.addEventListener("change", hide);
  seek.addEventListener("input", () => {
    const box = seek.getBoundingClientRect();
    show(Number(seek.value), (Number(seek.value) / Number(seek.max || 1)) * box.width);
  });
}

function parseVtt(text) {
  const cues = [];
  const toSeconds = (stamp) => stamp.split(":").reduce((total, part) => total * 60 + parseFloat(part), 0);
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.trim().split(/\r?\n/);
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split("-->").map((s) => toSeconds(s.trim().split(" ")[0]));
    const [src, fragment] = lines[timing + 1].trim().split("#xywh=");
    if (!fragment) continue;
    cues.push({ start, end, src, xywh: fragment.split(",").map(Number) });
  }
  return cues;
}

function setupSeekBar() {
  const showTime = () => {
    const total = video.duration || 0;
    if (document.activeElement !== seek || !seek.matches(":active")) seek.value = String(video.currentTime);
    elapsed.textContent = formatTime(video.currentTime);
    seek.setAttribute("aria-valuetext", `${formatTime(video.currentTime)} of ${formatTime(total)}`);
  };
  video.addEventListener("durationchange", () => {
    seek.max = String(video.duration || 0);
    durationLabel.textContent = formatTime(video.duration);
    showTime();
  });
  video.addEventListener("timeupdate", showTime);
  video.addEventListener("seeked", showTime);
  seek.addEventListener("change", () => (video.currentTime = Number(seek.value)));
  let stalledAt = null;
  video.addEventListener("waiting", () => (stalledAt = performance.now()));
  video.addEventListener("playing", () => {
    if (stalledAt !== null) metrics.stalls.push({ at: video.currentTime, ms: performance.now() - stalledAt });
    stalledAt = null;
  });
}

function setupButtons() {
  const toggle = () => (video.paused || video.ended ? video.play().catch(() => {}) : video.pause());
  const showPlaying = () => {
    const playing = !video.paused && !video.ended;
    stage.classList.toggle("is-playing", playing);
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
  };
  ["play", "pause", "ended", "emptied"].forEach((event) => video.addEventListener(event, showPlaying));
  playButton.addEventListener("click", toggle);
  video.addEventListener("click", toggle);

  // Browsers let a page start a video by itself only without sound, so it starts muted and
  // says so over the picture until the viewer turns the sound on once.
  const showSound = () => {
    const muted = video.muted || video.volume === 0;
    stage.classList.toggle("is-muted", muted);
    muteButton.setAttribute("aria-label", muted ? "Unmute" : "Mute");
    if (!muted) unmuteButton.hidden = true;
  };
  video.addEventListener("volumechange", showSound);
  unmuteButton.hidden = !video.muted;
  showSound();
  // The controls follow at once, not when the (asynchronous) volumechange event arrives.
  const unmute = () => {
    video.muted = false;
    if (video.volume === 0) video.volume = 1;
    showSound();
  };
  unmuteButton.addEventListener("click", unmute);
  muteButton.addEventListener("click", () => {
    if (video.muted || video.volume === 0) return unmute();
    video.muted = true;
    showSound();
  });

  const canFullscreen = document.fullscreenEnabled || "webkitEnterFullscreen" in video;
  fullscreenButton.hidden = !canFullscreen;
  fullscreenButton.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (document.fullscreenEnabled) stage.requestFullscreen();
    else video.webkitEnterFullscreen(); // iPhone Safari: only the video itself goes full screen
  });
  document.addEventListener("fullscreenchange", () =>
    fullscreenButton.setAttribute("aria-label", document.fullscreenElement ? "Exit full screen" : "Full screen"),
  );

  // The usual player keys, unless a control that uses them has the focus.
  stage.addEventListener("keydown", (event) => {
    const onControl = event.target.closest("button, select, input");
    const key = event.key.toLowerCase();
    if ((key === " " && !onControl) || key === "k") toggle();
    else if (key === "m") muteButton.click();
    else if (key === "f") fullscreenButton.click();
    else if ((key === "arrowleft" || key === "arrowright") && !onControl) video.currentTime += key === "arrowleft" ? -5 : 5;
    else return;
    event.preventDefault();
  });
}

// The public view count under the title, fresh every few seconds while the page is seen. A
// video the count is not shown for (private, played by token) keeps the line hidden.
const VIEW_COUNT_REFRESH_MS = 5000;

async function followViewCount(id) {
  const line = document.getElementById("views");
  for (;;) {
    const counts = document.hidden ? null : await fetchViewCounts([id]).catch(() => null);
    if (counts && counts.has(id)) {
      line.textContent = viewsText(counts.get(id));
      line.hidden = false;
    }
    await new Promise((resolve) => setTimeout(resolve, VIEW_COUNT_REFRESH_MS));
  }
}

function setAspect(width, height) {
  // The player takes the picture's shape (filling the page's width, or the window's height
  // for a tall picture), so there are no black bars around the video.
  if (width > 0 && height > 0) stage.style.setProperty("--aspect", String(width / height));
}

async function waitUntilReady() {
  // A processing video starts here once it is ready: look again every few seconds.
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const query = token ? `?playbackToken=${encodeURIComponent(token)}` : "";
    const response = await fetch(`/v1/videos/${encodeURIComponent(videoId)}${query}`).catch(() => null);
    const body = response && response.ok ? await response.json() : null;
    if (body && body.video.status !== "VIDEO_STATUS_PROCESSING" && body.video.status !== "VIDEO_STATUS_UPLOADING") {
      return location.reload();
    }
  }
}

async function main() {
  if (!videoId) return say("No video named in the address.", { problem: true });
  let meta;
  try {
    meta = await fetchVideo();
  } catch (error) {
    return say(error.message, { detail: error.detail, problem: true });
  }
  const v = meta.video;
  document.title = `${v.title} · vidmesh`;
  document.getElementById("title").textContent = v.title;
  document.getElementById("description").textContent = v.description;
  if (v.status === "VIDEO_STATUS_FAILED") {
    return say("This video could not be processed.", { detail: sentence(v.failureReason || ""), problem: true });
  }
  if (v.status !== "VIDEO_STATUS_READY") {
    say("This video is still processing.", { detail: "It will start here when it is ready.", problem: true });
    return waitUntilReady();
  }
  const renditions = v.renditions || [];
  if (renditions.length) setAspect(renditions[0].width, renditions[0].height);
  video.addEventListener("loadedmetadata", () => setAspect(video.videoWidth, video.videoHeight));
  stage.hidden = false;
  say("");
  // A private video (played by token) is not recommended, and the service keeps no reactions
  // for it: neither shows.
  if (v.visibility !== "VISIBILITY_PRIVATE") {
    startUpNext({ player: video, videoId: v.id });
    startReactions(v);
  }
  const root = "/" + v.masterPlaylistPath.replace(/^\//, "").replace(/master\.m3u8$/, "");
  video.poster = signed(`${root}poster.jpg`);
  watchFirstFrame();
  setupButtons();
  setupSeekBar();
  const source = signed(`${root}master.m3u8`);
  const reporting = { video, videoName: v.name || `videos/${v.id}`, durationSeconds: parseFloat((v.source && v.source.duration) || "0") };
  followViewCount(v.id);
  if (window.Hls && Hls.isSupported()) {
    // A short forward buffer (hls.js would otherwise grow it to 30 s or more). hls.js only gives
    // up on a slow fragment when it would arrive after the buffer runs dry, so the buffer's length
    // is how long a bandwidth drop can go unanswered: 8 s, a little over one 6 s segment, makes
    // it move down within two segments, still rides out a slow fragment, and means viewers who
    // leave early have not downloaded the whole video.
    // No bandwidth-test fragment before the first real one (testBandwidth): hls.js starts on the
    // rendition its default estimate affords and climbs as segments arrive, which puts the
    // first frame on screen sooner; startFragPrefetch asks for that segment while MSE opens.
    const hls = new Hls({
      startLevel: -1,
      testBandwidth: false,
      startFragPrefetch: true,
      // fMP4 segments need no transmuxing; a worker would cost a second parse of hls.js first.
      enableWorker: false,
      maxBufferLength: 8,
      maxMaxBufferLength: 8,
      backBufferLength: 30,
    });
    window.vidmeshHls = hls;
    const nameOf = renditionNamer(renditions);
    setupQualityMenu(hls, nameOf);
    window.vidmeshPlayerEvents = startPlayerEvents({ ...reporting, hls, renditionOf: nameOf });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) say("Playback failed.", { detail: `The player reported ${data.details}. Reload the page to try again.`, problem: true });
    });
    hls.loadSource(source);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    quality.hidden = true; // Safari plays HLS natively, with its own quality choice
    window.vidmeshPlayerEvents = startPlayerEvents(reporting);
    video.src = source;
  } else {
    return say("This browser cannot play HLS video.", { detail: "Try a current Chrome, Edge, Firefox or Safari.", problem: true });
  }
  setupStoryboard(root);
}

main();
