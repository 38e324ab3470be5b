// The live player of the live watch page (/stream/{id}) and of the studio's preview
// (/studio/live): hls.js in low-latency mode behind a small set of controls (play, sound, a LIVE
// badge that also jumps back to the live edge, the latency, quality, full screen). Both pages
// use the same markup inside their .live-stage; this file finds its parts there by class.
//
// The latency shown is hls.latency: how far the playhead is behind the live edge as hls.js
// sees it (the end of the newest part, aged by the time since its playlist arrived). It needs no
// clock but the viewer's own. The alternative, now − PROGRAM-DATE-TIME of the playhead
// (hls.playingDate), compares the viewer's clock with the ingest server's, so a phone's clock a
// second off would show a second of latency that is not there; and the date is the ingest's
// time for the segment, not the camera's. Against the true glass-to-glass figure (a time
// painted into the frames, tests/browser/test_live_pages.py), on one machine so that no clock
// was off, over six runs: hls.latency read 0.25 s under to 1.2 s over it (most within 0.25 s),
// now − PROGRAM-DATE-TIME 0.6 s under to 0.2 s over; neither is the viewer's true delay.
"use strict";

// hls.js 1.7's low-latency mode (parts, blocking playlist reload) with a catch-up rate of up to
// 1.5x: at the default of 1x, hls.js never gains back what a stall or a late start cost, and sat
// near 2.2 s here instead of 1.4 s (notes/live.md, section 3). The target latency is hls.js's
// default, from the playlist's PART-HOLD-BACK. A live page stays open for hours: 30 s behind the
// playhead is kept for a short rewind, not the whole broadcast.
const LIVE_HLS_CONFIG = { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 30 };
const LATENCY_REFRESH_MS = 500;
// hls.latency moves in steps as parts and playlists arrive (and jumps for a moment when a
// playlist is late): the page shows the median of the last few seconds' readings.
const LATENCY_READINGS = 8;
// Further behind the live edge than the target by this much (paused, or a stall), the LIVE badge
// greys out and offers to jump back, as video sites do.
const BEHIND_LIVE_SECONDS = 3;

// Renditions are named by the server (the stream's renditions, e.g. "360p", and "source" for
// the encoder's own picture passed through); a level is matched to its rendition by its media
// playlist's path. The ladder may not be listed yet: then the path's folder names it.
function liveLevelName(level, renditions) {
  const path = new URL(level.uri || level.url[0], location.href).pathname;
  const rendition = renditions.find((r) => r.playlistPath && path.endsWith(`/${r.playlistPath}`));
  const name = rendition ? rendition.name : path.split("/").slice(-2, -1)[0] || "";
  const lines = level.height ? `${Math.min(level.width, level.height)}p` : name;
  if (name === "source") return `${lines} (source)`;
  return /^\d+p$/.test(name) ? name : lines;
}

function setupLiveQuality(hls, select, renditions) {
  const auto = new Option("Auto", "-1");
  select.replaceChildren(auto);
  select.disabled = true;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    // One rendition leaves nothing to choose: the menu says which it is, and stays shut.
    if (data.levels.length === 1) return select.replaceChildren(new Option(liveLevelName(data.levels[0], renditions), "-1"));
    // Best first, as people read a quality list.
    data.levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate)
      .forEach(({ level, index }) => select.append(new Option(liveLevelName(level, renditions), String(index))));
    select.disabled = false;
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    if (hls.levels.length < 2) return;
    // Auto says what it picked, so the menu is the one place that shows the quality.
    auto.textContent = hls.autoLevelEnabled ? `Auto (${liveLevelName(hls.levels[data.level], renditions)})` : "Auto";
  });
  select.onchange = () => {
    // -1 hands the choice back to hls.js's bandwidth estimate.
    hls.currentLevel = Number(select.value);
    if (select.value !== "-1") auto.textContent = "Auto";
  };
}

// "1.4 s behind": the word goes on narrow screens (app.css), where the controls' row is short.
function showLatencyText(readout, seconds) {
  if (seconds === null) return readout.replaceChildren();
  const word = document.createElement("span");
  word.className = "latency-word";
  word.textContent = " behind";
  readout.replaceChildren(`${seconds.toFixed(1)} s`, word);
}

// The badge is red while the picture is at the live edge; behind it (paused, a long stall), it
// is grey and a click brings the viewer back to live.
function followLatency(hls, video, badge, readout) {
  const readings = [];
  const show = () => {
    if (Number.isFinite(hls.latency) && hls.latency > 0) readings.push(hls.latency);
    if (readings.length > LATENCY_READINGS) readings.shift();
    const sorted = [...readings].sort((a, b) => a - b);
    const latency = sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
    const known = latency !== null;
    showLatencyText(readout, known ? latency : null);
    readout.title = known ? "Behind the live picture" : "";
    readout.dataset.value = known ? latency.toFixed(3) : "";
    const behind = video.paused || (known && latency > (hls.targetLatency || 0) + BEHIND_LIVE_SECONDS);
    badge.classList.toggle("behind", behind);
    badge.title = behind ? "Go to the live picture" : "You are watching live";
  };
  badge.onclick = () => {
    readings.length = 0; // the readings from behind say nothing about the live edge
    if (Number.isFinite(hls.liveSyncPosition)) video.currentTime = hls.liveSyncPosition;
    video.play().catch(() => {});
  };
  show();
  return setInterval(show, LATENCY_REFRESH_MS);
}

function setupLiveButtons(stage, video) {
  const play = stage.querySelector(".live-play");
  const mute = stage.querySelector(".live-mute");
  const unmute = stage.querySelector(".unmute");
  const fullscreen = stage.querySelector(".live-fullscreen");
  const showPlaying = () => {
    const playing = !video.paused && !video.ended;
    stage.classList.toggle("is-playing", playing);
    play.setAttribute("aria-label", playing ? "Pause" : "Play");
  };
  video.onplay = video.onpause = video.onemptied = showPlaying;
  // Pausing live and playing again resumes where it paused; the LIVE badge jumps to the edge.
  const toggle = () => (video.paused || video.ended ? video.play().catch(() => {}) : video.pause());
  play.onclick = toggle;
  video.onclick = toggle;

  // Browsers start a video by themselves only without sound: it starts muted and says so over
  // the picture until the viewer turns the sound on once.
  const showSound = () => {
    const muted = video.muted || video.volume === 0;
    stage.classList.toggle("is-muted", muted);
    mute.setAttribute("aria-label", muted ? "Unmute" : "Mute");
    if (!muted && unmute) unmute.hidden = true;
  };
  video.onvolumechange = showSound;
  const soundOn = () => {
    video.muted = false;
    if (video.volume === 0) video.volume = 1;
    showSound();
  };
  if (unmute) {
    unmute.hidden = !video.muted;
    unmute.onclick = soundOn;
  }
  mute.onclick = () => {
    if (video.muted || video.volume === 0) return soundOn();
    video.muted = true;
    showSound();
  };
  showSound();
  showPlaying();

  fullscreen.hidden = !(document.fullscreenEnabled || "webkitEnterFullscreen" in video);
  fullscreen.onclick = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (document.fullscreenEnabled) stage.requestFullscreen();
    else video.webkitEnterFullscreen(); // iPhone Safari: only the video itself goes full screen
  };
}

// The stream turns LIVE with the encoder's first packets; its master playlist is there a moment
// later, with the first part, and hls.js would take the 404 before it for a failure. True once
// the playlist answers (it is fetched again by hls.js: playlists are not cached), false if it
// did not within `seconds` or `cancelled()` became true.
async function livePlaylistReady(source, { seconds = 15, cancelled = () => false } = {}) {
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until && !cancelled()) {
    const response = await fetch(source, { cache: "no-store" }).catch(() => null);
    if (response && response.ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return false;
}

// Starts playing `source` (the master playlist's URL) in the stage's <video>. `renditions` are
// the stream's, for naming the quality menu's levels. onFatal(details) is called when hls.js
// gives up (the page decides whether to start again); onEnded when the playlists ended and the
// picture played out. Returns the player, { hls (null on Safari's own HLS), video, stop() }, or
// null in a browser that cannot play HLS at all.
function startLivePlayer({ stage, source, renditions = [], onFatal = () => {}, onEnded = () => {} }) {
  const video = stage.querySelector("video");
  const badge = stage.querySelector(".live-badge");
  const readout = stage.querySelector(".live-latency");
  const quality = stage.querySelector(".live-quality");
  if (!(window.Hls && Hls.isSupported()) && !video.canPlayType("application/vnd.apple.mpegurl")) return null;
  setupLiveButtons(stage, video);
  stage.classList.add("has-player");
  // Handlers as properties: a player started again (after hls.js gave up) replaces them.
  video.onended = () => {
    stage.classList.remove("is-playing");
    onEnded();
  };
  video.onloadedmetadata = () => {
    if (video.videoWidth && video.videoHeight) stage.style.setProperty("--aspect", String(video.videoWidth / video.videoHeight));
  };
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls(LIVE_HLS_CONFIG);
    setupLiveQuality(hls, quality, renditions);
    const timer = followLatency(hls, video, badge, readout);
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) onFatal(data.details);
    });
    hls.loadSource(source);
    hls.attachMedia(video);
    video.play().catch(() => {}); // autoplay: muted, so allowed; a refusal leaves the play button
    const stop = () => {
      clearInterval(timer);
      video.onended = null;
      hls.destroy();
      stage.classList.remove("has-player", "is-playing");
      readout.textContent = "";
    };
    return { hls, video, stop };
  }
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    // Safari plays LL-HLS itself, with its own quality choice and no latency figure to show.
    quality.hidden = true;
    readout.hidden = true;
    video.src = source;
    video.play().catch(() => {});
    const stop = () => {
      video.onended = null;
      video.removeAttribute("src");
      video.load();
      stage.classList.remove("has-player", "is-playing");
    };
    return { hls: null, video, stop };
  }
  return null;
}
