// Watch page: /watch/{video}[?token=...]. Plays the master playlist with hls.js (MSE), offers a
// quality menu with Auto (hls.js ABR), and shows storyboard thumbnails while seeking.
"use strict";

const video = document.getElementById("player");
const status = document.getElementById("status");
const quality = document.getElementById("quality");
const levelLabel = document.getElementById("level");
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

function say(text) {
  status.textContent = text;
}

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function fetchVideo() {
  // Started by the inline script in watch.html (GET /v1/videos/{id}, with the token if any).
  const { status, body } = await window.vidmeshVideo;
  if (status === 404) throw new Error("This video does not exist or is private.");
  if (status !== 200) throw new Error(body.message || `HTTP ${status}`);
  return body;
}

function watchFirstFrame() {
  const done = () => {
    if (metrics.firstFrameMs === null) metrics.firstFrameMs = performance.now();
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(done);
  else video.addEventListener("playing", done, { once: true });
}

function setupQualityMenu(hls) {
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    // Highest first, as people read a quality list.
    data.levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height)
      .forEach(({ level, index }) => {
        const option = document.createElement("option");
        option.value = String(index);
        option.textContent = `${level.height}p`;
        quality.append(option);
      });
    quality.disabled = false;
  });
  hls.on(Hls.Events.LEVEL_SWITCHING, (_, data) => {
    metrics.decisions.push({ at: performance.now(), level: data.level, height: hls.levels[data.level].height });
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    metrics.switches.push({ at: video.currentTime, level: data.level, height: level.height, bitrate: level.bitrate });
    levelLabel.textContent = `${hls.autoLevelEnabled ? "Auto · " : ""}${level.height}p`;
  });
  hls.on(Hls.Events.FRAG_LOADED, (_, { frag }) => {
    if (frag.type !== "main") return;
    const { loading, loaded } = frag.stats;
    metrics.fragments.push({ level: frag.level, sn: frag.sn, at: loading.end, ms: loading.end - loading.start, bytes: loaded });
  });
  quality.addEventListener("change", () => {
    // -1 hands the choice back to hls.js's bandwidth estimate.
    hls.currentLevel = Number(quality.value);
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
    preview.style.left = `${x}px`;
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
  video.addEventListener("loadedmetadata", () => (seek.max = String(video.duration || 0)));
  video.addEventListener("timeupdate", () => {
    if (document.activeElement !== seek) seek.value = String(video.currentTime);
  });
  seek.addEventListener("change", () => (video.currentTime = Number(seek.value)));
  let stalledAt = null;
  video.addEventListener("waiting", () => (stalledAt = performance.now()));
  video.addEventListener("playing", () => {
    if (stalledAt !== null) metrics.stalls.push({ at: video.currentTime, ms: performance.now() - stalledAt });
    stalledAt = null;
  });
}

async function main() {
  if (!videoId) return say("No video named in the address.");
  let meta;
  try {
    meta = await fetchVideo();
  } catch (error) {
    return say(error.message);
  }
  const v = meta.video;
  document.title = `${v.title} · vidmesh`;
  document.getElementById("title").textContent = v.title;
  document.getElementById("description").textContent = v.description;
  if (v.status !== "VIDEO_STATUS_READY") {
    return say(v.status === "VIDEO_STATUS_FAILED" ? "This video could not be processed." : "This video is still processing.");
  }
  const root = "/" + v.masterPlaylistPath.replace(/^\//, "").replace(/master\.m3u8$/, "");
  video.poster = signed(`${root}poster.jpg`);
  watchFirstFrame();
  setupSeekBar();
  const source = signed(`${root}master.m3u8`);
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
    setupQualityMenu(hls);
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) say(`Playback failed: ${data.details}`);
    });
    hls.loadSource(source);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = source; // Safari plays HLS natively (its own quality choice)
  } else {
    return say("This browser cannot play HLS.");
  }
  say("");
  setupStoryboard(root);
}

main();
