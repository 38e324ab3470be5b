// Go-live page for creators: /studio/live[?stream=ID]. The creator signs in with an API key (kept
// for this tab, as on the analytics page), creates a stream or picks one of theirs, and gets what
// the encoder needs (the RTMP server, the stream key, an ffmpeg command line), a muted preview of
// the stream as viewers get it (live-player.js), and its ingest health, refreshed every
// REFRESH_MS; then ends it. The stream key is returned only by the call that created it or
// rotated it: it is kept in this page's memory, never stored, so a reload needs a new one.
"use strict";

const KEY_STORAGE = "vidmesh.apiKey";
const REFRESH_MS = 2000;
// The list of streams is looked at again every this many refreshes (the selected stream's own
// state, the one that changes, is updated in place at every refresh).
const LIST_EVERY = 5;
// Segments are cut at keyframes: longer gaps make viewers wait longer to start and to catch up.
const KEYFRAME_WARNING_SECONDS = 4;
// The signed preview URL of a private stream: a day's, the longest there is.
const PREVIEW_TTL = "86400s";

const LIVE = "LIVE_STREAM_STATE_LIVE";
const RECONNECTING = "LIVE_STREAM_STATE_RECONNECTING";
const ENDED = "LIVE_STREAM_STATE_ENDED";
const STATE_NAMES = { [LIVE]: "Live", [RECONNECTING]: "Reconnecting", [ENDED]: "Ended", LIVE_STREAM_STATE_IDLE: "Not live yet" };

const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat("en-US");

const state = {
  key: "",
  owner: "",
  streams: new Map(),
  selected: "",
  streamKeys: new Map(), // stream id -> its key, from CreateStream or RotateStreamKey in this page
  keyShown: false,
  timer: null,
  busy: false,
  ticks: 0,
  preview: null, // { id, player } while the preview plays
  previewStarting: false,
};

// A call the API refused: its google.rpc.Status (code name, message, ErrorInfo reason).
class ApiError extends Error {
  constructor(httpStatus, status) {
    super(status.message || `HTTP ${httpStatus}`);
    const detail = (type) => (status.details || []).find((d) => (d["@type"] || "").endsWith(type)) || {};
    this.code = CODE_NAMES[status.code] || `HTTP_${httpStatus}`;
    this.reason = detail("google.rpc.ErrorInfo").reason || "";
    this.owner = detail("google.rpc.ResourceInfo").owner || "";
  }
}
const CODE_NAMES = { 3: "INVALID_ARGUMENT", 5: "NOT_FOUND", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED" };

async function api(path, { method = "GET", params = {}, body } = {}) {
  const query = new URLSearchParams(params).toString();
  const headers = { authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(query ? `${path}?${query}` : path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { code: 14, message: "the server cannot be reached" });
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

const streamPath = (id, verb = "") => `/v1/streams/${encodeURIComponent(id)}${verb}`;

// -- formatting ------------------------------------------------------------------------------

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  return trimmed[0].toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

function formatRate(bitsPerSecond) {
  const bps = Number(bitsPerSecond || 0);
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mb/s`;
  return `${Math.round(bps / 1000)} kb/s`;
}

const clock = (iso) => new Date(iso).toLocaleTimeString("en-GB");
const shortClock = (iso) => new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });

function formatAgo(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  return `at ${clock(iso)}`;
}

function formatCreated(iso) {
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return today ? `today, ${shortClock(iso)}` : at.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
}

// Why the last encoder session stopped (IngestError), in words.
const INGEST_ERRORS = {
  INGEST_ERROR_UNSPECIFIED: "Your encoder stopped publishing.",
  INGEST_ERROR_DISCONNECTED: "The encoder's connection dropped.",
  INGEST_ERROR_STALLED: "The encoder sent nothing for 10 seconds.",
  INGEST_ERROR_NO_VIDEO: "The encoder sent no video.",
  INGEST_ERROR_UNSUPPORTED_CODEC: "Refused: send H.264 video and AAC audio.",
  INGEST_ERROR_PROTOCOL: "The encoder's RTMP messages could not be read.",
  INGEST_ERROR_PACKAGER_FAILED: "Packaging the stream failed; publishing again starts afresh.",
  INGEST_ERROR_ALREADY_PUBLISHING: "Refused: another encoder is already publishing on this stream.",
  INGEST_ERROR_AT_CAPACITY: "Refused: the ingest server is running as many streams as it may. Try again later.",
};

// -- signing in ------------------------------------------------------------------------------

// The API has no "who am I" call; the caller's transcode jobs name their owner (as on the
// analytics page). A creator with no uploads yet is known by the first stream they create here.
async function ownerOfKey() {
  const body = await api("/v1/jobs", { params: { pageSize: "1" } });
  return (body.jobs && body.jobs[0] && body.jobs[0].owner) || "";
}

function setOwner(owner) {
  state.owner = owner;
  $("signed-in-as").textContent = owner ? `Signed in as ${owner}` : "Signed in";
}

async function signIn(key) {
  state.key = key;
  const owner = await ownerOfKey(); // also tells a key that does not work
  sessionStorage.setItem(KEY_STORAGE, key);
  setOwner(owner);
  $("sign-in").hidden = true;
  $("account").hidden = false;
  $("studio").hidden = false;
  const asked = new URLSearchParams(location.search).get("stream") || "";
  if (asked) await select(asked);
  else showCreate();
  await loadStreams();
  start();
}

function showSignIn(message = "") {
  stop();
  stopPreview();
  state.key = "";
  state.streamKeys.clear();
  sessionStorage.removeItem(KEY_STORAGE);
  $("studio").hidden = true;
  $("account").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("sign-in-error").hidden = !message;
  $("api-key").value = "";
  $("api-key").focus();
}

function explainKeyError(error) {
  if (error.code === "UNAUTHENTICATED") return `This API key was not accepted. ${sentence(error.message)}`;
  return `Could not sign in. ${sentence(error.message)}`;
}

// -- the list of streams ---------------------------------------------------------------------

async function loadStreams() {
  if (state.owner) {
    const body = await api("/v1/streams", { params: { owner: state.owner, pageSize: "50" } });
    state.streams = new Map((body.streams || []).map((s) => [s.id, s]));
  }
  renderList();
}

function renderList() {
  const streams = [...state.streams.values()];
  $("streams-empty").hidden = streams.length > 0;
  $("stream-list").replaceChildren(
    ...streams.map((stream) => {
      const item = document.createElement("li");
      item.dataset.stream = stream.id;
      const link = document.createElement("a");
      link.href = `?stream=${encodeURIComponent(stream.id)}`;
      if (stream.id === state.selected) link.setAttribute("aria-current", "true");
      link.addEventListener("click", (event) => {
        event.preventDefault();
        select(stream.id);
      });
      const title = document.createElement("span");
      title.className = "stream-title";
      title.textContent = stream.title;
      const meta = document.createElement("span");
      meta.className = "stream-meta";
      const chip = document.createElement("span");
      chip.className = "state-chip";
      chip.dataset.state = stream.state;
      chip.textContent = STATE_NAMES[stream.state] || stream.state;
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = formatCreated(stream.createTime);
      meta.append(chip, when);
      link.append(title, meta);
      item.append(link);
      return item;
    }),
  );
}

// -- creating --------------------------------------------------------------------------------

function showCreate() {
  state.selected = "";
  showProblem(null);
  stopPreview();
  history.replaceState(null, "", location.pathname);
  $("stream").hidden = true;
  $("create").hidden = false;
  $("new-stream").hidden = true;
  $("create-error").hidden = true;
  renderList();
  $("new-title").focus();
}

async function create(form) {
  const stream = {
    title: form.elements.title.value.trim(),
    visibility: form.elements.visibility.value,
    record: form.elements.record.checked,
  };
  // Asked again, once, if the answer was lost on the way: the same request id returns the stream
  // the first call made instead of a second one, but without its key (only the lost answer had
  // it), so the key is rotated for one the creator can see.
  const requestId = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const ask = () => api("/v1/streams", { method: "POST", params: { requestId }, body: stream });
  let created;
  try {
    created = (await ask()).stream;
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "UNAVAILABLE") throw error;
    created = (await ask()).stream;
  }
  if (!created.streamKey) created = (await api(streamPath(created.id, ":rotateStreamKey"), { method: "POST", body: {} })).stream;
  state.streamKeys.set(created.id, created.streamKey);
  state.keyShown = false;
  if (!state.owner) setOwner(created.owner);
  state.streams = new Map([[created.id, created], ...state.streams]);
  form.reset();
  await select(created.id);
}

// -- one stream ------------------------------------------------------------------------------

async function select(id) {
  if (state.selected !== id) {
    stopPreview();
    state.keyShown = false;
  }
  state.selected = id;
  history.replaceState(null, "", `?stream=${encodeURIComponent(id)}`);
  $("create").hidden = true;
  $("new-stream").hidden = false;
  $("stream").hidden = false;
  showProblem(null);
  renderList();
  const known = state.streams.get(id);
  if (known) render(known);
  else $("stream-heading").textContent = `Stream ${id}`;
  await refresh();
}

function render(stream) {
  state.streams.set(stream.id, stream);
  $("stream-heading").textContent = stream.title;
  document.title = `${stream.title} · Go live · vidmesh studio`;
  const chip = $("stream-state");
  chip.textContent = STATE_NAMES[stream.state] || stream.state;
  chip.dataset.state = stream.state;
  $("watch-link").href = `/stream/${encodeURIComponent(stream.id)}`;
  $("end-stream").hidden = stream.state === ENDED;
  $("encoder").hidden = stream.state === ENDED;
  renderEncoder(stream);
  renderHealth(stream);
  renderPreview(stream);
  // The list's entry follows the stream's state without waiting for the list's next look.
  const entry = document.querySelector(`#stream-list li[data-stream="${CSS.escape(stream.id)}"] .state-chip`);
  if (entry && entry.dataset.state !== stream.state) renderList();
}

function renderEncoder(stream) {
  const key = state.streamKeys.get(stream.id) || "";
  $("ingest-url").value = stream.ingestUrl;
  const keyInput = $("stream-key");
  keyInput.value = key;
  keyInput.type = key && state.keyShown ? "text" : "password";
  keyInput.placeholder = key ? "" : "Hidden: rotate the key for a new one";
  $("show-key").disabled = !key;
  $("show-key").textContent = state.keyShown ? "Hide" : "Show";
  $("show-key").setAttribute("aria-pressed", String(state.keyShown));
  document.querySelector('[data-copy="stream-key"]').disabled = !key;
  $("key-note").textContent = key
    ? "This key is shown only now: copy it to your encoder. Anyone who has it can broadcast on this stream; if it leaks or you lose it, rotate it."
    : "The key was shown when the stream was created and is not kept anywhere it could be shown again. Rotate it to get a new one.";
  $("key-note").classList.toggle("fresh", Boolean(key));
  // The command shows the key only while the key is shown (a shared screen); Copy copies it whole.
  const target = (shownKey) => `${stream.ingestUrl}/${shownKey}`;
  // Keyframes every second whatever the frame rate (segments are cut at them), no B-frames and
  // no look-ahead (each frame leaves the encoder as soon as it is made).
  const command = (shownKey) =>
    [
      "ffmpeg -re -i input.mp4",
      "  -c:v libx264 -preset veryfast -tune zerolatency -bf 0 -b:v 2500k",
      '  -force_key_frames "expr:gte(t,n_forced*1)"',
      "  -c:a aac -ar 48000 -b:a 128k",
      `  -f flv "${target(shownKey)}"`,
    ].join(" \\\n");
  $("ffmpeg-command").textContent = command(!key ? "STREAM_KEY" : state.keyShown ? key : "•".repeat(12));
  $("ffmpeg-command").dataset.copyText = command(key || "STREAM_KEY");
}

function setHealth(id, text, raw = "") {
  $(id).textContent = text;
  $(id).dataset.value = String(raw);
}

function renderHealth(stream) {
  const health = stream.health;
  const ingest = stream.ingest;
  const onAir = stream.state === LIVE || stream.state === RECONNECTING;
  if (health && onAir) {
    setHealth("health-video", formatRate(health.videoBitRate), Number(health.videoBitRate || 0));
    setHealth("health-audio", formatRate(health.audioBitRate), Number(health.audioBitRate || 0));
    setHealth("health-fps", `${Number(health.frameRate || 0).toFixed(1)} fps`, Number(health.frameRate || 0));
    const interval = Number(health.keyframeInterval || 0);
    setHealth("health-keyframes", interval ? `${interval.toFixed(1)} s` : "measured at the second keyframe", interval);
    const slow = interval > KEYFRAME_WARNING_SECONDS;
    $("keyframe-row").classList.toggle("warn", slow);
    $("keyframe-warning").hidden = !slow;
    $("keyframe-warning").textContent = slow
      ? `Keyframes arrive every ${interval.toFixed(1)} s. Set your encoder's keyframe interval to 1 or 2 s: viewers start, and catch up, at keyframes, so their delay grows with it.`
      : "";
    setHealth("health-dropped", numbers.format(Number(health.droppedFrames || 0)), Number(health.droppedFrames || 0));
    setHealth("health-last-media", health.lastMediaTime ? formatAgo(health.lastMediaTime) : "–", health.lastMediaTime || "");
  } else {
    for (const id of ["health-video", "health-audio", "health-fps", "health-keyframes", "health-dropped", "health-last-media"]) setHealth(id, "–");
    $("keyframe-row").classList.remove("warn");
    $("keyframe-warning").hidden = true;
  }
  const codecs = ingest ? [ingest.videoCodec, ingest.audioCodec].filter(Boolean).map((c) => c.toUpperCase()).join(", ") : "";
  setHealth("health-picture", ingest && ingest.width ? `${ingest.width}×${ingest.height}` : "–");
  setHealth("health-codecs", codecs || "–");
  // Figures exist only on air: before, a note (and the last refused attempt, if any); after,
  // when the stream was on air.
  $("health-figures").hidden = !onAir;
  let note = onAir ? "" : "Figures appear once your encoder publishes.";
  if (stream.state === ENDED) {
    note = stream.startTime && stream.endTime
      ? `The stream was live from ${shortClock(stream.startTime)} to ${shortClock(stream.endTime)}.`
      : "The stream ended before it went live.";
  }
  $("health-note").textContent = note;
  const end = stream.lastIngestEnd;
  if (!end || !end.time) {
    $("last-error").textContent = stream.state === ENDED ? "None recorded." : "None yet.";
    $("last-error").classList.remove("error");
  } else {
    const why = INGEST_ERRORS[end.error] || sentence(end.error);
    const detail = end.detail ? ` ${sentence(end.detail)}` : "";
    $("last-error").textContent = `${why}${detail} (${clock(end.time)})`;
    $("last-error").classList.toggle("error", end.error !== "INGEST_ERROR_UNSPECIFIED");
  }
}

// -- the preview -----------------------------------------------------------------------------

function overlay(title, detail = "", { overPicture = false, recording = "" } = {}) {
  $("overlay").hidden = !title;
  $("overlay").classList.toggle("over-picture", overPicture);
  $("overlay-title").textContent = title;
  $("overlay-detail").textContent = detail;
  $("overlay-detail").hidden = !detail;
  $("overlay-link").hidden = !recording;
  if (recording) $("recording-link").href = `/watch/${encodeURIComponent(recording.replace(/^videos\//, ""))}`;
}

function renderPreview(stream) {
  $("stage").classList.remove("is-reconnecting");
  if (stream.state === LIVE) {
    overlay("");
    startPreview(stream);
  } else if (stream.state === RECONNECTING) {
    $("stage").classList.add("is-reconnecting");
    const until = stream.reconnectDeadline ? ` before ${clock(stream.reconnectDeadline)}` : "";
    overlay("Your encoder's connection dropped.", `Publish again with the same key${until} to continue this stream.`, { overPicture: Boolean(state.preview) });
  } else if (stream.state === ENDED) {
    stopPreview();
    const recording = stream.recordingVideo ? "" : stream.record && stream.startTime ? "The recording is published as a video shortly." : "";
    overlay("This stream has ended.", recording, { recording: stream.recordingVideo });
  } else {
    stopPreview();
    overlay("Waiting for your encoder…", "Publish to the server below with your stream key: the preview starts when the stream is live.");
  }
}

async function previewSource(stream) {
  if (stream.visibility !== "VISIBILITY_PRIVATE") return stream.masterPlaylistPath;
  const body = await api(streamPath(stream.id, ":createPlaybackUrl"), { method: "POST", body: { ttl: PREVIEW_TTL } });
  return body.url;
}

async function startPreview(stream) {
  if ((state.preview && state.preview.id === stream.id) || state.previewStarting) return;
  stopPreview();
  state.previewStarting = true;
  const gone = () => state.selected !== stream.id || (state.streams.get(stream.id) || {}).state === ENDED;
  try {
    const source = await previewSource(stream);
    if (!(await livePlaylistReady(source, { cancelled: gone })) || gone()) return; // the next refresh tries again
    const player = startLivePlayer({ stage: $("stage"), source, renditions: stream.renditions || [], onFatal: () => stopPreview() });
    if (!player) return overlay("This browser cannot play the preview.", "Try a current Chrome, Edge, Firefox or Safari.");
    state.preview = { id: stream.id, player };
    window.vidmeshHls = player.hls; // for tests and operators
  } catch (error) {
    overlay("The preview could not start.", sentence(error.message));
  } finally {
    state.previewStarting = false;
  }
}

function stopPreview() {
  if (state.preview) state.preview.player.stop();
  state.preview = null;
}

// -- ending and rotating ---------------------------------------------------------------------

// A yes/no question in a modal <dialog>; resolves true for the confirming button.
function confirmAction({ title, text, ok }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function endStream() {
  const stream = state.streams.get(state.selected);
  if (!stream) return;
  const recorded = stream.record && stream.startTime ? " The recording is published as a video." : "";
  const sure = await confirmAction({
    title: "End this stream?",
    text: `Viewers see that it has ended, and your encoder is disconnected. An ended stream cannot go live again: create a new one for your next broadcast.${recorded}`,
    ok: "End stream",
  });
  if (!sure) return;
  const body = await api(streamPath(stream.id, ":end"), { method: "POST", body: {} });
  render(body.stream);
}

async function rotateKey() {
  const stream = state.streams.get(state.selected);
  if (!stream) return;
  const onAir = stream.state === LIVE || stream.state === RECONNECTING;
  const sure = await confirmAction({
    title: "Get a new stream key?",
    text: onAir
      ? "The current key stops working at once and your encoder is disconnected within a second. Publish again with the new key to continue this stream."
      : "The current key stops working at once: an encoder set up with it must get the new one.",
    ok: "Rotate key",
  });
  if (!sure) return;
  const body = await api(streamPath(stream.id, ":rotateStreamKey"), { method: "POST", body: {} });
  state.streamKeys.set(stream.id, body.stream.streamKey);
  render(body.stream);
}

// Copies the text of the element a button names; where the clipboard cannot be written (a page
// not on https or localhost), the text is selected for the creator to copy by hand.
async function copy(button) {
  const source = $(button.dataset.copy);
  const text = source.dataset.copyText || source.value || source.textContent;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    if (source.select) {
      source.type = "text";
      source.select();
    } else {
      getSelection().selectAllChildren(source);
    }
    button.textContent = "Press Ctrl+C";
  }
  setTimeout(() => (button.textContent = label), 2000);
}

// -- refreshing ------------------------------------------------------------------------------

// One refresh after another, each REFRESH_MS after the previous one began (or at once, if it
// took longer), so a slow answer delays the next look instead of piling up calls.
function start() {
  stop();
  const loop = async () => {
    const began = performance.now();
    await refresh();
    if (state.timer !== null) state.timer = setTimeout(loop, Math.max(0, REFRESH_MS - (performance.now() - began)));
  };
  state.timer = setTimeout(loop, REFRESH_MS);
}

function stop() {
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
}

async function refresh() {
  if (state.busy || document.hidden || !state.key) return;
  state.busy = true;
  const id = state.selected;
  try {
    if (id) {
      const body = await api(streamPath(id));
      if (id !== state.selected) return; // the creator picked another meanwhile
      const stream = body.stream;
      if (state.owner && stream.owner !== state.owner) {
        return showProblem("This stream is not yours.", `It belongs to ${stream.owner}; you are signed in as ${state.owner}.`);
      }
      if (!state.owner) setOwner(stream.owner); // no uploads to tell who this is: the stream they came back to
      showProblem(null);
      render(stream);
    }
    state.ticks += 1;
    if (state.ticks % LIST_EVERY === 0) await loadStreams();
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
    $("updated").classList.remove("stale");
  } catch (error) {
    handle(error, id);
  } finally {
    state.busy = false;
  }
}

function handle(error, id) {
  if (!(error instanceof ApiError)) throw error; // a bug: let it show in the console
  if (error.code === "UNAUTHENTICATED") return showSignIn(explainKeyError(error));
  if (id !== state.selected) return;
  if (error.code === "NOT_FOUND") {
    stopPreview();
    state.streams.delete(id);
    renderList();
    return showProblem("There is no such stream, or it is private to another account.", sentence(error.message));
  }
  if (error.code === "PERMISSION_DENIED") {
    const whose = error.owner ? ` It belongs to ${error.owner}.` : "";
    return showProblem("This stream is not yours to manage.", `${sentence(error.message)}${whose}`);
  }
  // Anything else may pass (the service restarting): keep what is shown, say it is stale.
  $("updated").textContent = `Not updated: ${sentence(error.message)}`;
  $("updated").classList.add("stale");
}

// A stream this page cannot manage: the message in place of its preview, settings and actions.
function showProblem(title, detail = "") {
  $("problem").hidden = !title;
  $("problem-title").textContent = title || "";
  $("problem-detail").textContent = detail;
  $("manage").hidden = Boolean(title);
  if (title) stopPreview();
}

// A failed action (create, end, rotate) is said where the creator acted.
async function act(button, action, where) {
  button.disabled = true;
  where.hidden = true;
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.code === "UNAUTHENTICATED") return showSignIn(explainKeyError(error));
    where.textContent = sentence(error.message);
    where.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// -- wiring ----------------------------------------------------------------------------------

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.submitter;
  if (button) button.disabled = true;
  try {
    await signIn($("api-key").value.trim());
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showSignIn(explainKeyError(error));
  } finally {
    if (button) button.disabled = false;
  }
});
$("sign-out").addEventListener("click", () => showSignIn());
$("create-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(event.submitter || event.target.querySelector("button"), () => create(event.target), $("create-error"));
});
$("new-stream").addEventListener("click", showCreate);
$("end-stream").addEventListener("click", (event) => act(event.currentTarget, endStream, $("action-error")));
$("rotate-key").addEventListener("click", (event) => act(event.currentTarget, rotateKey, $("rotate-error")));
$("show-key").addEventListener("click", () => {
  state.keyShown = !state.keyShown;
  const stream = state.streams.get(state.selected);
  if (stream) renderEncoder(stream);
});
for (const button of document.querySelectorAll("button.copy")) button.addEventListener("click", () => copy(button));
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});

const savedKey = sessionStorage.getItem(KEY_STORAGE);
if (savedKey) {
  signIn(savedKey).catch((error) => showSignIn(error instanceof ApiError ? explainKeyError(error) : String(error)));
} else {
  showSignIn();
}
