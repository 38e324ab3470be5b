// Player events for analytics: what happens in the watch page's <video> becomes PlayerEvents
// (proto/vidmesh/analytics/v1/analytics_service.proto), sent in batches to POST /v1/events:send
// in the proto3 JSON mapping. docs/analytics.md, "What the watch page sends", describes the
// rules in prose. The ids (randomId, anonymousViewerId) come from viewer.js, loaded before it.
"use strict";

const EVENTS_URL = "/v1/events:send";
const HEARTBEAT_SECONDS = 10;
// A batch leaves at most this long after its first event, so the dashboard (which polls every
// second or so) shows playback within about two seconds.
const FLUSH_DELAY_MS = 1000;
const MAX_BATCH_EVENTS = 500; // the service's limit
const MAX_QUEUED_EVENTS = 2000; // while the service is unreachable: oldest dropped beyond this
// keepalive requests (page hide) may carry 64 KiB in all; events are well under 1 KiB each.
const KEEPALIVE_BATCH_EVENTS = 50;
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;
const MAX_WAIT_SECONDS = 600; // startup_time and stall_duration limits

// google.protobuf.Duration in JSON: seconds with a fraction and an "s".
function duration(seconds) {
  return `${Math.max(0, seconds).toFixed(3)}s`;
}

// Sends batches in order, one request at a time; keeps them while the service is unavailable.
class EventSender {
  constructor() {
    this.queue = [];
    this.inFlight = [];
    this.timer = null;
    this.retryMs = 0;
    this.stats = { sentBatches: 0, sentEvents: 0, lastSentAt: null, rejected: 0, dropped: 0, retries: 0 };
  }

  add(event) {
    this.queue.push(event);
    if (this.queue.length > MAX_QUEUED_EVENTS) {
      const dropped = this.queue.splice(0, this.queue.length - MAX_QUEUED_EVENTS);
      this.stats.dropped += dropped.length;
      console.warn(`analytics: dropped ${dropped.length} player events that could not be sent`);
    }
    this.schedule(FLUSH_DELAY_MS);
  }

  // Back online: what waits for a retry goes now.
  retryNow() {
    if (this.timer === null || !this.queue.length) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  schedule(delayMs) {
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), delayMs);
  }

  async flush() {
    this.timer = null;
    if (this.inFlight.length || !this.queue.length) return;
    const batch = this.queue.splice(0, MAX_BATCH_EVENTS);
    this.inFlight = batch;
    let retryAfterMs = 0;
    try {
      const response = await fetch(EVENTS_URL, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events: batch }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        this.sent(batch, body);
      } else if (response.status === 503 || response.status === 429) {
        retryAfterMs = this.backoff(body);
      } else {
        // Refused as a whole (malformed, too large): sending it again would be refused again.
        console.error(`analytics: a batch of ${batch.length} player events was refused: ${body.message || response.status}`);
      }
    } catch {
      retryAfterMs = this.backoff({}); // offline, or the connection dropped
    }
    this.inFlight = [];
    if (retryAfterMs) {
      this.queue.unshift(...batch); // events are deduplicated by id, so a resend is safe
      this.stats.retries += 1;
      this.schedule(retryAfterMs);
    } else if (this.queue.length) {
      this.schedule(FLUSH_DELAY_MS);
    }
  }

  sent(batch, body) {
    this.retryMs = 0;
    this.stats.sentBatches += 1;
    this.stats.sentEvents += batch.length;
    this.stats.lastSentAt = Date.now();
    // An invalid event stays invalid: say why, and do not send it again.
    for (const rejected of body.rejectedEvents || []) {
      this.stats.rejected += 1;
      const event = batch[rejected.index || 0] || {};
      console.warn(`analytics: ${event.kind || "event"} rejected (${rejected.reason}, ${rejected.field}): ${rejected.description}`);
    }
  }

  // How long to wait before the next try: what the service asks for (EVENT_LOG_FULL carries
  // retry_after_seconds), else doubling from RETRY_MIN_MS.
  backoff(status) {
    const info = (status.details || []).find((d) => d.metadata && d.metadata.retry_after_seconds);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs ? this.retryMs * 2 : RETRY_MIN_MS);
    return info ? Math.max(1000, Number(info.metadata.retry_after_seconds) * 1000) : this.retryMs;
  }

  // The page is going away (or may be killed while hidden): everything not yet answered goes
  // out in keepalive requests, which the browser delivers after the page has gone.
  sendNow() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const pending = [...this.inFlight, ...this.queue];
    this.queue = [];
    for (let start = 0; start < pending.length; start += KEEPALIVE_BATCH_EVENTS) {
      const batch = pending.slice(start, start + KEEPALIVE_BATCH_EVENTS);
      fetch(EVENTS_URL, {
        method: "POST",
        keepalive: true,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events: batch }),
      }).catch(() => {
        // Refused (over the keepalive quota, offline) while the page still lives: kept for later.
        this.queue.unshift(...batch);
        this.schedule(RETRY_MIN_MS);
      });
      this.stats.sentEvents += batch.length;
      this.stats.lastSentAt = Date.now();
    }
  }
}

// Watches one <video> (played by hls.js, or natively) for one session and records its events.
// durationSeconds is the catalog's duration: positions beyond it are refused by the service.
function startPlayerEvents({ video, videoName, durationSeconds, hls = null, renditionOf = null }) {
  const sender = new EventSender();
  const log = []; // kinds recorded, in order
  const sessionId = randomId();
  const viewerId = anonymousViewerId();
  const attachedAt = performance.now();
  let rendition = "";
  let requestedAt = null; // when the viewer (or autoplay) asked to play
  let started = false; // a first frame was shown
  let paused = true;
  let failed = false;
  let stalledAt = null; // when the current stall began
  let stalledPosition = 0;
  // Played media time not yet reported, and the position it was last measured at (null right
  // after a jump, until playback gives a new one).
  let unreported = 0;
  let measuredAt = null;
  let lastPosition = 0;

  const position = () => Math.min(video.currentTime || 0, durationSeconds || Infinity);

  function measure() {
    if (measuredAt !== null && !video.seeking) {
      const advanced = video.currentTime - measuredAt;
      if (advanced > 0 && advanced < HEARTBEAT_SECONDS * 2) unreported += advanced;
    }
    measuredAt = video.seeking ? null : video.currentTime;
    if (!video.seeking) lastPosition = position();
  }

  function record(kind, fields = {}) {
    const event = {
      eventId: randomId(),
      sessionId,
      video: videoName,
      kind: `PLAYER_EVENT_KIND_${kind}`,
      eventTime: new Date().toISOString(),
      position: duration(position()),
      ...fields,
    };
    if (viewerId) event.viewerId = viewerId;
    if (rendition) event.rendition = rendition;
    const bandwidth = hls ? Math.round(hls.bandwidthEstimate || 0) : 0;
    if (bandwidth > 0) event.bandwidthEstimate = String(bandwidth);
    sender.add(event);
    log.push(kind);
  }

  // Kinds that carry `played` report everything played since the last of them, so the sum of
  // played is the session's watch time and each one covers [position - played, position].
  function recordPlayed(kind, fields = {}) {
    measure();
    const played = unreported;
    unreported = 0;
    record(kind, played > 0 ? { played: duration(played), ...fields } : fields);
  }

  function endStall() {
    if (stalledAt === null) return;
    const stood = Math.min(MAX_WAIT_SECONDS, (performance.now() - stalledAt) / 1000);
    stalledAt = null;
    record("BUFFER_END", { stallDuration: duration(stood) });
  }

  function firstFrame() {
    if (started || failed) return;
    started = true;
    paused = false;
    measuredAt = video.currentTime;
    const startup = Math.min(MAX_WAIT_SECONDS, (performance.now() - (requestedAt ?? attachedAt)) / 1000);
    record("PLAY", { startupTime: duration(startup) });
  }

  // A play that follows a click or key press within a second is the viewer's; one without is
  // autoplay, which asked when the player was set up.
  let gestureAt = -Infinity;
  const noteGesture = () => (gestureAt = performance.now());
  document.addEventListener("pointerdown", noteGesture, { capture: true, passive: true });
  document.addEventListener("keydown", noteGesture, { capture: true, passive: true });
  video.addEventListener("play", () => {
    if (failed || requestedAt !== null) return;
    const pressed = performance.now() - gestureAt < 1000;
    requestedAt = video.autoplay && !pressed ? attachedAt : performance.now();
    record("PLAY_REQUEST");
    if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(firstFrame);
  });
  video.addEventListener("playing", () => {
    if (!started) return firstFrame(); // browsers without requestVideoFrameCallback
    if (stalledAt !== null) return endStall();
    if (paused) {
      paused = false;
      measuredAt = video.currentTime;
      record("PLAY");
    }
  });
  video.addEventListener("timeupdate", () => {
    if (!started || failed) return;
    measure();
    if (stalledAt !== null && video.currentTime > stalledPosition) endStall(); // moving again, without a "playing"
    if (unreported >= HEARTBEAT_SECONDS) recordPlayed("HEARTBEAT");
  });
  video.addEventListener("waiting", () => {
    // The first load is startup time and a jump's load belongs to the seek: neither is a stall.
    if (!started || failed || video.seeking || video.paused || stalledAt !== null) return;
    measure();
    stalledAt = performance.now();
    stalledPosition = video.currentTime;
    record("BUFFER_START");
  });
  video.addEventListener("pause", () => {
    if (!started || failed || video.ended || paused) return;
    endStall();
    paused = true;
    recordPlayed("PAUSE");
  });
  video.addEventListener("seeking", () => {
    if (!started || failed) return;
    // currentTime is already the new position: the old one is the last measured (at most a
    // timeupdate, 250 ms, ago), and so is what was played before the jump.
    const from = lastPosition;
    measuredAt = null;
    // Small jumps are hls.js stepping over a gap in the buffer, not the viewer.
    if (Math.abs(video.currentTime - from) < 1) return;
    endStall();
    const played = unreported;
    unreported = 0;
    record("SEEK", { seekFrom: duration(from), ...(played > 0 ? { played: duration(played) } : {}) });
  });
  video.addEventListener("seeked", () => {
    measuredAt = video.currentTime;
    lastPosition = position();
  });
  video.addEventListener("ended", () => {
    if (!started || failed) return;
    endStall();
    paused = true;
    recordPlayed("ENDED");
  });

  function fail(code, message) {
    if (failed) return;
    endStall();
    recordPlayed("ERROR", { errorCode: code.slice(0, 64), errorMessage: (message || code).slice(0, 1024) });
    failed = true;
  }
  const mediaErrors = { 1: "MEDIA_ERR_ABORTED", 2: "MEDIA_ERR_NETWORK", 3: "MEDIA_ERR_DECODE", 4: "MEDIA_ERR_SRC_NOT_SUPPORTED" };
  video.addEventListener("error", () => {
    // With hls.js, media errors are its to recover from; its fatal ERROR says when it gives up.
    if (!hls && video.error) fail(mediaErrors[video.error.code] || "MEDIA_ERR", video.error.message);
  });

  if (hls) {
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      const name = renditionOf ? renditionOf(hls.levels[data.level]) : "";
      if (!name || name === rendition) return;
      const previous = rendition;
      if (previous && started) {
        // What played so far was in the old rendition: reported under its name first.
        recordPlayedIn(previous);
        rendition = name;
        record("QUALITY_CHANGE", { previousRendition: previous });
      } else {
        rendition = name; // the first pick is not a switch
      }
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) fail(String(data.details || "hlsError"), data.error ? String(data.error.message || data.error) : data.reason);
    });
  }

  // A heartbeat early, in the rendition that played, so that rendition shares stay exact.
  function recordPlayedIn(name) {
    measure();
    if (unreported <= 0) return;
    const current = rendition;
    rendition = name;
    recordPlayed("HEARTBEAT");
    rendition = current;
  }

  // Hidden may be the last the page hears (phones kill background tabs): report what played so
  // far and send everything now. The session goes on if the page comes back.
  function leaving() {
    if (started && !failed) {
      measure();
      if (unreported > 0) recordPlayed("HEARTBEAT");
    }
    sender.sendNow();
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") leaving();
  });
  window.addEventListener("pagehide", leaving);
  window.addEventListener("online", () => sender.retryNow());

  // For tests and operators: the session, the kinds recorded and the sender's counts.
  return { sessionId, viewerId, events: log, stats: sender.stats };
}

window.startPlayerEvents = startPlayerEvents;
