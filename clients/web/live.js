// Live watch page: /stream/{id}. The stream's details come from GetStream, asked again every
// POLL_MS, and its state decides what the stage shows: a black frame saying it has not started
// yet (it starts by itself when the stream goes LIVE), the low-latency player (live-player.js),
// the frozen picture with a note while the broadcaster reconnects, or the end, with a link to the
// recording once it is published. A stream that does not exist, or that the viewer may not see,
// gets a message instead of a player. The owner watching their own private stream is known by
// the API key the studio keeps for this tab. The chat beside the player is live-chat.js's.
"use strict";

const KEY_STORAGE = "vidmesh.apiKey";
const POLL_MS = 2000;
// After a recorded stream ends, its recording is published as a video: looked for this often,
// for this long, so the link appears without a reload.
const RECORDING_POLL_MS = 5000;
const RECORDING_WAIT_MS = 5 * 60 * 1000;
// The viewer is a second or two behind the broadcast: when it ends, its last seconds play out
// (the playlists end with EXT-X-ENDLIST, then the video ends), for at most this long.
const PLAY_OUT_MS = 6000;
// hls.js giving up this many times in a row (each start again after the next look) is a failure.
const MAX_RESTARTS = 3;

const LIVE = "LIVE_STREAM_STATE_LIVE";
const RECONNECTING = "LIVE_STREAM_STATE_RECONNECTING";
const ENDED = "LIVE_STREAM_STATE_ENDED";

const $ = (id) => document.getElementById(id);
const stage = $("stage");
const streamId = decodeURIComponent(location.pathname.split("/")[2] || "");
const page = { stream: null, key: sessionStorage.getItem(KEY_STORAGE) || "", player: null, starting: false, failures: 0, playOut: null, endedAt: 0, timer: null };

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  return trimmed[0].toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

const clock = (iso) => new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
const clockSeconds = (iso) => new Date(iso).toLocaleTimeString("en-GB");
const day = (iso) => new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });

function formatSpan(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

// -- what the viewer is told -----------------------------------------------------------------

// The page's line while loading, or a card in place of the player for a stream that cannot be
// watched at all (the stage is hidden then: no black box with dead controls).
function say(text, { detail = "", problem = false } = {}) {
  const notice = $("notice");
  $("status").textContent = text;
  $("detail").textContent = detail;
  $("detail").hidden = !detail;
  $("home-link").hidden = !problem;
  notice.classList.toggle("problem", problem);
  notice.hidden = !text;
  if (problem) {
    stopPlayer();
    stopChat();
    stage.hidden = true;
    $("stream-line").hidden = true;
    notice.prepend($("title")); // the stream's title, if known, heads the message
  }
}

// A message on the stage: over a black frame, or (`overPicture`) over the frozen last picture.
function overlay(title, detail = "", { overPicture = false, recording = "" } = {}) {
  $("overlay").hidden = !title;
  $("overlay").classList.toggle("over-picture", overPicture);
  $("overlay-title").textContent = title;
  $("overlay-detail").textContent = detail;
  $("overlay-detail").hidden = !detail;
  $("overlay-link").hidden = !recording;
  if (recording) $("recording-link").href = `/watch/${encodeURIComponent(recording.replace(/^videos\//, ""))}`;
}

function showDetails(stream) {
  document.title = `${stream.title} · vidmesh`;
  $("title").textContent = stream.title;
  $("description").textContent = stream.description || "";
  $("owner").textContent = stream.owner;
  const chip = $("state-chip");
  const onAir = stream.state === LIVE || stream.state === RECONNECTING;
  chip.textContent = { [LIVE]: "Live", [RECONNECTING]: "Reconnecting", [ENDED]: "Ended" }[stream.state] || "Not started";
  chip.dataset.state = stream.state;
  let since = "";
  if (onAir && stream.startTime) since = `Started at ${clock(stream.startTime)}`;
  else if (stream.state === ENDED && stream.startTime) since = `Streamed on ${day(stream.startTime)}`;
  $("since").textContent = since;
  $("stream-line").hidden = false;
}

// -- the stream's states ---------------------------------------------------------------------

function show(stream) {
  page.stream = stream;
  showDetails(stream);
  // live-chat.js: started at the first look, told the stream's state at every one; the chat hears
  // of the end first (stream_ended), and has the page look at once.
  followChat(stream, { onEnded: refresh });
  stage.classList.toggle("is-reconnecting", stream.state === RECONNECTING);
  stage.hidden = false;
  say("");
  if (stream.state === LIVE) {
    overlay("");
    startPlayer(stream);
  } else if (stream.state === RECONNECTING) {
    // The reconnect window is short (30 s by default): the deadline to the second.
    const until = stream.reconnectDeadline ? `The stream continues here if it comes back before ${clockSeconds(stream.reconnectDeadline)}.` : "";
    overlay("The broadcaster's connection dropped; waiting for it to come back…", until, { overPicture: Boolean(page.player) });
    // A running player keeps its place and goes on when the broadcaster is back (the playlists
    // carry a discontinuity); one that gave up meanwhile starts again once the stream is LIVE.
  } else if (stream.state === ENDED) {
    playOut();
  } else {
    overlay("This stream hasn't started yet.", `It starts here as soon as ${stream.owner} goes live.`);
  }
}

function playOut() {
  if (!page.player || page.player.video.ended) return showEnded();
  if (page.playOut === null) page.playOut = setTimeout(showEnded, PLAY_OUT_MS);
}

function showEnded() {
  clearTimeout(page.playOut);
  page.playOut = null;
  stopPlayer();
  const stream = page.stream;
  if (!page.endedAt) page.endedAt = Date.now();
  const parts = [];
  if (stream.endReason === "END_REASON_ENCODER_GONE") parts.push("The broadcaster's connection did not come back.");
  if (!stream.startTime) {
    parts.push("It ended before it went live.");
  } else {
    if (stream.endTime) {
      const seconds = (Date.parse(stream.endTime) - Date.parse(stream.startTime)) / 1000;
      parts.push(`It was live for ${formatSpan(seconds)}, until ${clock(stream.endTime)}.`);
    }
    if (!stream.recordingVideo) parts.push(stream.record ? "The recording is linked here once it is published." : "It was not recorded.");
  }
  overlay("This stream has ended.", parts.join(" "), { recording: stream.recordingVideo });
}

// -- the player ------------------------------------------------------------------------------

async function playbackSource(stream) {
  if (stream.visibility !== "VISIBILITY_PRIVATE") return stream.masterPlaylistPath;
  // The owner's private stream: the playlists want a signed URL (a day's, the longest there is).
  const response = await fetch(`/v1/streams/${encodeURIComponent(stream.id)}:createPlaybackUrl`, {
    method: "POST",
    headers: { authorization: `Bearer ${page.key}`, "content-type": "application/json" },
    body: JSON.stringify({ ttl: "86400s" }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body.url;
}

async function startPlayer(stream) {
  if (page.player || page.starting) return;
  page.starting = true;
  try {
    const source = await playbackSource(stream);
    const ended = () => page.stream.state === ENDED;
    if (!(await livePlaylistReady(source, { cancelled: ended })) || ended()) return; // the next look tries again
    page.player = startLivePlayer({ stage, source, renditions: stream.renditions || [], onFatal: playerFailed, onEnded: () => refresh() });
    if (!page.player) return say("This browser cannot play live video.", { detail: "Try a current Chrome, Edge, Firefox or Safari.", problem: true });
    window.vidmeshHls = page.player.hls; // for tests and operators
    page.player.video.addEventListener("playing", () => (page.failures = 0), { once: true });
  } catch (error) {
    playerFailed(error.message);
  } finally {
    page.starting = false;
  }
}

function stopPlayer() {
  if (page.player) page.player.stop();
  page.player = null;
}

// hls.js gave up (the broadcaster gone a while, the network): the next look at the stream starts
// it again if the stream is on air, a few times before the viewer is told.
function playerFailed(details) {
  stopPlayer();
  if (page.stream && page.stream.state === RECONNECTING) return; // nothing comes while the encoder is away
  page.failures += 1;
  if (page.failures >= MAX_RESTARTS) {
    say("Playback failed.", { detail: `The player reported ${details}. Reload the page to try again.`, problem: true });
    stop();
  }
}

// -- looking at the stream -------------------------------------------------------------------

async function getStream() {
  const headers = page.key ? { authorization: `Bearer ${page.key}` } : {};
  const response = await fetch(`/v1/streams/${encodeURIComponent(streamId)}`, { headers });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && page.key) {
    page.key = ""; // a key that no longer works is no reason not to show a public stream
    return getStream();
  }
  return { status: response.status, body };
}

async function refresh() {
  let answer;
  try {
    answer = await getStream();
  } catch {
    answer = { status: 0, body: { message: "the server cannot be reached" } };
  }
  const { status, body } = answer;
  if (status === 404) {
    stop();
    return say("This stream does not exist or is private.", { detail: "Check the address. A private stream can be watched by its owner only.", problem: true });
  }
  // Anything else may pass (a service restarting): what is shown stays, and the next look retries.
  if (status !== 200) {
    if (!page.stream) say("This stream could not be loaded yet; trying again…", { detail: sentence(body.message) || `HTTP ${status}.` });
    return;
  }
  show(body.stream);
}

function nextLook() {
  const stream = page.stream;
  if (!stream || stream.state !== ENDED) return POLL_MS;
  const waiting = stream.record && stream.startTime && !stream.recordingVideo && Date.now() - page.endedAt < RECORDING_WAIT_MS;
  return waiting ? RECORDING_POLL_MS : null;
}

// One look after another, each POLL_MS after the previous one began (or at once, if it took
// longer); none while the tab is hidden, one at once when it is seen again.
function start() {
  const loop = async () => {
    const began = performance.now();
    if (!document.hidden) await refresh();
    if (page.timer === null) return;
    const wait = nextLook();
    page.timer = wait === null ? null : setTimeout(loop, Math.max(0, wait - (performance.now() - began)));
  };
  page.timer = setTimeout(loop, 0);
}

function stop() {
  clearTimeout(page.timer);
  page.timer = null;
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && page.timer !== null) refresh();
});

if (streamId) start();
else say("No stream named in the address.", { problem: true });
