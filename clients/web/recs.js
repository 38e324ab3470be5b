// Recommendations for the pages: RecsService (proto/vidmesh/recs/v1/recs_service.proto) through
// the gateway's REST mapping. Asks for lists (GET /v1/recommendations), says why an entry was
// chosen, and tells the service which entries the viewer saw and which one they opened
// (POST /v1/recommendations:recordEvents), by each entry's token. Viewers are anonymous: the
// viewer id is viewer.js's, loaded before this file.
"use strict";

const RECS_URL = "/v1/recommendations";
const RECS_EVENTS_URL = "/v1/recommendations:recordEvents";
const MAX_EVENT_TOKENS = 100; // the most one RecordRecommendationEvents call takes
// Impressions wait this long for more before they go: the cards on screen at load (and after
// a scroll) leave in one call.
const IMPRESSION_DELAY_MS = 800;
// Half of a card on screen is a card seen.
const IMPRESSION_THRESHOLD = 0.5;

// Why an entry was chosen, in the viewer's words (RecommendationReason).
const REASON_TEXT = {
  RECOMMENDATION_REASON_PERSONALIZED: "Based on what you watched",
  RECOMMENDATION_REASON_SIMILAR: "Viewers of this video also watched",
  RECOMMENDATION_REASON_TRENDING: "Trending",
};

function reasonText(reason) {
  return REASON_TEXT[reason] || "Recommended";
}

// A call that failed, with a short sentence for the page. status 0: no answer at all.
class RecsProblem extends Error {
  constructor(message, status = 0, reason = "") {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

// A refusal (google.rpc.Status as JSON) in a few words; the caller says what failed.
function explainRecsRefusal(status, body) {
  const info = ((body && body.details) || []).find((d) => String(d["@type"] || "").endsWith("google.rpc.ErrorInfo")) || {};
  const reason = info.reason || "";
  if (reason === "REACTIONS_QUOTA_EXCEEDED") return new RecsProblem("You have reacted to too many videos; take a reaction back first.", status, reason);
  if (status === 404) return new RecsProblem("This video is no longer available.", status, reason);
  if (status === 502 || status === 503 || status === 504) return new RecsProblem("The service is unavailable right now. Try again in a moment.", status, reason);
  if (status === 429) return new RecsProblem("Too many requests. Try again in a moment.", status, reason);
  return new RecsProblem(`The server answered HTTP ${status}.`, status, reason);
}

// One JSON call to the service; throws a RecsProblem for no answer or a refusal.
async function recsCall(url, { method = "GET", body = undefined, signal = undefined } = {}) {
  const init = { method, signal };
  if (body !== undefined) {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new RecsProblem("vidmesh cannot be reached. Check your connection and try again.");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok || !answer) throw explainRecsRefusal(response.status, answer);
  return answer;
}

// GetRecommendations: { viewerId, pageSize, trendingOnly, seedVideo } (empty ones left out).
// Entries without a video or a token (never sent, but a page must not break on one) are dropped.
// An answer slower than timeoutMs is given up on: a list is worth less than the page it is on.
async function fetchRecommendations(params, timeoutMs = 3000) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, String(value));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const body = await recsCall(`${RECS_URL}?${query}`, { signal: controller.signal });
    return (body.recommendations || []).filter((r) => r.video && r.video.id && r.token);
  } catch (error) {
    if (error.name === "AbortError") throw new RecsProblem("Recommendations took too long.");
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

// Impressions and clicks of the entries a page shows. watch(element, token) follows one entry:
// an impression once half of it has been on screen (each token once), a click when its link is
// opened. Impressions wait a moment so that what comes on screen together leaves in one call;
// a click leaves at once, with the impressions still waiting, as a keepalive request, which the
// browser delivers even though the page is navigating away. What waits when the page is hidden
// or left goes the same way.
class RecsFeedback {
  constructor() {
    this.pending = new Set(); // seen, not yet sent
    this.recorded = new Set(); // impressions sent (or being sent)
    this.clicked = new Set();
    this.timer = null;
    // For tests and operators: what was sent.
    // For tests and operators: what was sent, and what the service answered it counted.
    this.stats = { calls: 0, impressions: 0, clicks: 0, answered: 0, recorded: 0, failed: 0 };
    this.observer = new IntersectionObserver((entries) => this.seen(entries), { threshold: IMPRESSION_THRESHOLD });
    const leaving = () => this.flush({ keepalive: true });
    window.addEventListener("pagehide", leaving);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") leaving();
    });
  }

  watch(element, token) {
    element.dataset.recToken = token;
    this.observer.observe(element);
    const link = element.matches("a") ? element : element.querySelector("a");
    if (!link) return;
    // "click" is a left click or Enter; "auxclick" the middle button (a new tab). Either way the
    // viewer opened it; the navigation itself is the link's, untouched.
    link.addEventListener("click", () => this.click(token));
    link.addEventListener("auxclick", (event) => event.button === 1 && this.click(token));
  }

  seen(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const token = entry.target.dataset.recToken;
      this.observer.unobserve(entry.target); // seen once is enough
      if (!this.recorded.has(token)) this.pending.add(token);
    }
    if (this.pending.size && this.timer === null) this.timer = setTimeout(() => this.flush(), IMPRESSION_DELAY_MS);
  }

  // An entry opened; also without an impression yet (the viewer was quicker than the delay).
  click(token) {
    if (this.clicked.has(token)) return;
    this.clicked.add(token);
    if (!this.recorded.has(token)) this.pending.add(token);
    this.flush({ keepalive: true, clicks: [token] });
  }

  flush({ keepalive = false, clicks = [] } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    const impressions = [...this.pending];
    this.pending.clear();
    for (const token of impressions) this.recorded.add(token);
    // At most MAX_EVENT_TOKENS a call; tokens are ~60 bytes, so a call stays well inside the
    // 64 KiB keepalive requests may carry. Clicks ride with the first.
    const batches = [];
    for (let start = 0; start < impressions.length; start += MAX_EVENT_TOKENS) batches.push(impressions.slice(start, start + MAX_EVENT_TOKENS));
    if (!batches.length && clicks.length) batches.push([]);
    batches.forEach((batch, index) => {
      const body = { impressionTokens: batch };
      if (index === 0 && clicks.length) body.clickTokens = clicks;
      this.send(body, keepalive);
    });
  }

  async send(body, keepalive) {
    this.stats.calls += 1;
    this.stats.impressions += body.impressionTokens.length;
    this.stats.clicks += (body.clickTokens || []).length;
    try {
      const response = await fetch(RECS_EVENTS_URL, {
        method: "POST",
        keepalive,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const answer = await response.json();
      this.stats.answered += 1;
      this.stats.recorded += answer.recordedCount || 0;
    } catch (error) {
      // Feedback only tunes the models: a lost batch is not worth a retry loop or a message.
      this.stats.failed += 1;
      console.warn(`recommendations: feedback not recorded (${error.message})`);
    }
  }
}

// One per page, made on first use (pages without recommendations never observe anything).
let recsFeedbackInstance = null;

function recsFeedback() {
  if (!recsFeedbackInstance) {
    recsFeedbackInstance = new RecsFeedback();
    window.vidmeshRecsFeedback = recsFeedbackInstance.stats;
  }
  return recsFeedbackInstance;
}
