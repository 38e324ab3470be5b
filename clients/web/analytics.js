// Creator dashboard: /studio/analytics[?video=ID]. The creator signs in with an API key (kept in
// sessionStorage), picks one of their videos and sees its lifetime totals, an hourly series,
// the retention curve and playback quality, and a ranking of their videos, all from the
// analytics REST API, polled every REFRESH_MS. Charts are made once and get new data in place.
"use strict";

const KEY_STORAGE = "vidmesh.apiKey";
const REFRESH_MS = 1000;
const SERIES_HOURS = 48;

const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat("en-US");
const percents = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });

const state = { key: "", owner: "", videos: new Map(), selected: "", charts: null, timer: null, busy: false };

// A call the API refused: its google.rpc.Status (code name, message, ErrorInfo reason).
class ApiError extends Error {
  constructor(httpStatus, status) {
    super(status.message || `HTTP ${httpStatus}`);
    const detail = (type) => (status.details || []).find((d) => (d["@type"] || "").endsWith(type)) || {};
    this.code = CODE_NAMES[status.code] || `HTTP_${httpStatus}`;
    this.reason = detail("google.rpc.ErrorInfo").reason || "";
    this.owner = detail("google.rpc.ResourceInfo").owner || ""; // whose video it is, on NOT_OWNER
  }
}
const CODE_NAMES = { 3: "INVALID_ARGUMENT", 5: "NOT_FOUND", 7: "PERMISSION_DENIED", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED" };

async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of [].concat(value)) query.append(name, one);
  }
  const url = query.toString() ? `${path}?${query}` : path;
  let response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${state.key}` } });
  } catch {
    throw new ApiError(0, { code: 14, message: "the server cannot be reached" });
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// -- formatting ------------------------------------------------------------------------------

const seconds = (protoDuration) => parseFloat(protoDuration || "0") || 0;

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  return trimmed[0].toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

function formatSpan(total) {
  const s = Math.round(total);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${numbers.format(Math.floor(s / 3600))} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

function formatClock(total) {
  const s = Math.max(0, Math.floor(total));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function formatWait(total) {
  return total < 1 ? `${Math.round(total * 1000)} ms` : `${total.toFixed(1)} s`;
}

function setValue(id, text, raw) {
  const cell = $(id);
  cell.textContent = text;
  cell.dataset.value = String(raw);
}

// -- signing in ------------------------------------------------------------------------------

// The API has no "who am I" call; the caller's transcode jobs name their owner, and every
// uploaded video has one.
async function ownerOfKey() {
  const body = await api("/v1/jobs", { pageSize: "1" });
  return (body.jobs && body.jobs[0] && body.jobs[0].owner) || "";
}

async function signIn(key) {
  state.key = key;
  const owner = await ownerOfKey();
  sessionStorage.setItem(KEY_STORAGE, key);
  state.owner = owner;
  $("sign-in").hidden = true;
  $("account").hidden = false;
  $("signed-in-as").textContent = owner ? `Signed in as ${owner}` : "Signed in";
  $("dashboard").hidden = false;
  await loadVideos();
  start();
}

function showSignIn(message = "") {
  stop();
  state.key = "";
  sessionStorage.removeItem(KEY_STORAGE);
  $("dashboard").hidden = true;
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

// -- the video picker ------------------------------------------------------------------------

async function loadVideos() {
  const select = $("video-select");
  state.videos.clear();
  if (state.owner) {
    const body = await api("/v1/videos", { owner: state.owner, pageSize: "100" });
    for (const video of body.videos || []) {
      if (video.status === "VIDEO_STATUS_READY") state.videos.set(video.id, video);
    }
  }
  const asked = new URLSearchParams(location.search).get("video") || "";
  select.replaceChildren(...[...state.videos.values()].map((v) => new Option(v.title, v.id)));
  if (asked && !state.videos.has(asked)) select.prepend(new Option(`Video ${asked}`, asked)); // tried; the API decides
  select.disabled = !select.options.length;
  if (!select.options.length) select.append(new Option("No videos yet", ""));
  choose(asked || (select.options[0] && select.options[0].value) || "");
}

function choose(videoId) {
  state.selected = videoId;
  $("video-select").value = videoId;
  const video = state.videos.get(videoId);
  $("video-title").textContent = video ? video.title : videoId ? `Video ${videoId}` : "No videos yet";
  if (videoId) history.replaceState(null, "", `?video=${encodeURIComponent(videoId)}`);
  showProblem(null);
  $("video-panels").hidden = true;
  if (videoId && !video) nameForeignVideo(videoId);
}

// A video from the address that is not among the caller's: its title, if the caller may see it.
async function nameForeignVideo(videoId) {
  const body = await api(`/v1/videos/${encodeURIComponent(videoId)}`).catch(() => null);
  if (!body || !body.video || state.selected !== videoId) return;
  $("video-title").textContent = body.video.title;
  const option = [...$("video-select").options].find((o) => o.value === videoId);
  if (option) option.textContent = body.video.title;
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
  state.timer = setTimeout(loop, 0);
}

function stop() {
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
}

async function refresh() {
  if (state.busy || document.hidden || !state.key) return;
  state.busy = true;
  const videoId = state.selected;
  try {
    const [videoPart, top] = await Promise.allSettled([videoId ? loadVideo(videoId) : null, loadTopVideos()]);
    for (const part of [videoPart, top]) if (part.status === "rejected") throw part.reason;
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
    $("updated").classList.remove("stale");
  } catch (error) {
    handle(error, videoId);
  } finally {
    state.busy = false;
  }
}

async function loadVideo(videoId) {
  const name = `videos/${videoId}`;
  const since = new Date(Date.now() - SERIES_HOURS * 3600 * 1000);
  since.setUTCMinutes(0, 0, 0);
  const [lifetime, series, retention] = await Promise.all([
    api(`/v1/${name}/metrics`),
    api(`/v1/${name}/metrics`, { interval: "METRICS_INTERVAL_HOUR", startTime: since.toISOString() }),
    api(`/v1/${name}/retention`),
  ]);
  if (videoId !== state.selected) return; // the creator picked another meanwhile
  showProblem(null);
  $("video-panels").hidden = false;
  showTotals(lifetime.totals || {});
  showSeries(series.series || []);
  showRetention(retention);
}

function handle(error, videoId) {
  if (!(error instanceof ApiError)) console.error(error); // a bug here: shown as stale, the loop goes on
  else if (error.code === "UNAUTHENTICATED") return showSignIn(explainKeyError(error));
  if (videoId !== state.selected) return;
  if (error.code === "PERMISSION_DENIED") {
    const signedIn = state.owner ? `you are signed in as ${state.owner}` : "not to the account of this key";
    const whose = error.owner ? ` This video belongs to ${error.owner}, ${signedIn}.` : "";
    return showProblem("You do not have access to this video's analytics.", `${sentence(error.message)}${whose}`);
  }
  if (error.code === "NOT_FOUND") {
    return showProblem("There is no such video, or it is private to another account.", sentence(error.message));
  }
  // Anything else may pass (the service restarting): keep the numbers, say they are stale.
  $("updated").textContent = `Not updated: ${sentence(error.message)}`;
  $("updated").classList.add("stale");
}

function showProblem(title, detail = "") {
  $("problem").hidden = !title;
  $("problem-title").textContent = title || "";
  $("problem-detail").textContent = detail;
  if (title) $("video-panels").hidden = true;
}

// -- totals and quality ----------------------------------------------------------------------

function showTotals(totals) {
  const views = Number(totals.views || 0);
  setValue("tile-views", numbers.format(views), views);
  const viewers = Number(totals.uniqueViewers || 0);
  setValue("tile-viewers", numbers.format(viewers), viewers);
  const watched = seconds(totals.watchTime);
  setValue("tile-watch-time", formatSpan(watched), watched);
  const average = seconds(totals.averageViewDuration);
  setValue("tile-average", formatClock(average), average);

  const qoe = totals.qoe || {};
  const p50 = seconds(qoe.startupTimeP50);
  const p95 = seconds(qoe.startupTimeP95);
  setValue("qoe-startup-p50", p50 ? formatWait(p50) : "–", p50);
  setValue("qoe-startup-p95", p95 ? formatWait(p95) : "–", p95);
  const rebuffering = Number(qoe.rebufferingRatio || 0);
  setValue("qoe-rebuffering", `${percents.format(rebuffering)} of play time`, rebuffering);
  setValue("qoe-rebuffered-views", numbers.format(Number(qoe.rebufferedViews || 0)), Number(qoe.rebufferedViews || 0));
  const failed = Number(qoe.failedSessions || 0);
  const failure = Number(qoe.playbackFailureRatio || 0);
  setValue("qoe-failures", `${percents.format(failure)} of sessions (${numbers.format(failed)})`, failure);
  setValue("qoe-exits", numbers.format(Number(qoe.exitsBeforeStart || 0)), Number(qoe.exitsBeforeStart || 0));
  showRenditions(qoe.renditionShares || []);
}

function showRenditions(shares) {
  const list = $("renditions");
  if (!shares.length) {
    const none = document.createElement("li");
    none.className = "muted";
    none.textContent = "Nothing played yet.";
    return list.replaceChildren(none);
  }
  list.replaceChildren(
    ...shares.map((share) => {
      const ratio = Number(share.watchTimeRatio || 0);
      const item = document.createElement("li");
      item.dataset.rendition = share.rendition;
      item.dataset.value = String(ratio);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = share.rendition;
      const bar = document.createElement("span");
      bar.className = "bar-track";
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      fill.style.width = `${(ratio * 100).toFixed(1)}%`;
      bar.append(fill);
      const value = document.createElement("span");
      value.className = "share";
      value.textContent = percents.format(ratio);
      item.append(name, bar, value);
      return item;
    }),
  );
}

// -- charts ----------------------------------------------------------------------------------

function palette() {
  const css = getComputedStyle(document.documentElement);
  const read = (name) => css.getPropertyValue(name).trim();
  return { fg: read("--fg"), muted: read("--muted"), accent: read("--accent"), second: read("--chart-2"), grid: read("--grid") };
}

function makeCharts() {
  const colors = palette();
  Chart.defaults.color = colors.muted;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.borderColor = colors.grid;
  const common = { responsive: true, maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false } };
  const series = new Chart($("series-chart"), {
    data: {
      labels: [],
      datasets: [
        { type: "bar", label: "Views", data: [], backgroundColor: colors.accent, yAxisID: "views", order: 2 },
        {
          type: "line",
          label: "Watch time",
          data: [],
          borderColor: colors.second,
          backgroundColor: colors.second,
          pointRadius: 0,
          yAxisID: "watched",
          order: 1,
        },
      ],
    },
    options: {
      ...common,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, sort: (a, b) => a.datasetIndex - b.datasetIndex } }, tooltip: { callbacks: { title: (items) => items[0] && seriesTitles[items[0].dataIndex], label: seriesLabel } } },
      scales: {
        x: { grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 12 } },
        views: { position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "views" } },
        watched: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "minutes" } },
      },
    },
  });
  const retention = new Chart($("retention-chart"), {
    type: "line",
    data: {
      labels: [],
      datasets: [{ label: "Audience", data: [], borderColor: colors.accent, backgroundColor: `${colors.accent}33`, fill: "origin", pointRadius: 0, stepped: "before" }],
    },
    options: {
      ...common,
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => `${item.parsed.y.toFixed(1)}% of views` } } },
      scales: {
        x: { grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 16 } },
        y: { min: 0, max: 100, ticks: { callback: (value) => `${value}%` } },
      },
    },
  });
  return { series, retention };
}

let seriesTitles = [];
const WATCH_UNITS = [
  ["seconds", 1, 120],
  ["minutes", 60, 7200],
  ["hours", 3600, Infinity],
];

function seriesLabel(item) {
  if (item.datasetIndex === 0) return `Views: ${numbers.format(item.parsed.y)}`;
  return `Watch time: ${item.parsed.y} ${item.chart.options.scales.watched.title.text}`;
}

function showSeries(points) {
  state.charts = state.charts || makeCharts();
  const chart = state.charts.series;
  const hours = points.map((p) => new Date(p.startTime));
  // Hours on the axis; the date where a day begins, and on the first point.
  chart.data.labels = hours.map((at, i) =>
    i === 0 || at.getHours() === 0 ? at.toLocaleDateString("en-GB", { day: "numeric", month: "short" }) : `${String(at.getHours()).padStart(2, "0")}:00`,
  );
  seriesTitles = hours.map((at) => at.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }));
  chart.data.datasets[0].data = points.map((p) => Number((p.metrics && p.metrics.views) || 0));
  // Watch time in the unit its largest hour reads best in (seconds, minutes or hours).
  const watched = points.map((p) => seconds(p.metrics && p.metrics.watchTime));
  const [unit, size] = WATCH_UNITS.find(([, , below]) => Math.max(0, ...watched) < below);
  chart.data.datasets[1].data = watched.map((s) => +(s / size).toFixed(2));
  chart.options.scales.watched.title.text = unit;
  chart.update("none");
}

function showRetention(curve) {
  state.charts = state.charts || makeCharts();
  const chart = state.charts.retention;
  const buckets = curve.buckets || [];
  chart.data.labels = buckets.map((b) => formatClock(seconds(b.startOffset)));
  chart.data.datasets[0].data = buckets.map((b) => +(Number(b.audienceRatio || 0) * 100).toFixed(2));
  chart.update("none");
  const views = Number(curve.views || 0);
  $("retention-note").textContent = views
    ? `Share of the ${numbers.format(views)} ${views === 1 ? "view" : "views"} that watched each part of the ${formatClock(seconds(curve.videoDuration))} video.`
    : "No views yet: a session becomes a view after 30 seconds of play, or half of a video under a minute.";
}

// -- top videos ------------------------------------------------------------------------------

async function loadTopVideos() {
  if (!state.owner) {
    $("top-empty").textContent = "You have no videos yet.";
    return renderTopVideos([]);
  }
  const body = await api("/v1/analytics/topVideos", { owner: state.owner, pageSize: "10" });
  renderTopVideos(body.videos || []);
}

function renderTopVideos(top) {
  $("top-empty").hidden = top.length > 0;
  $("top-videos").hidden = !top.length;
  $("top-videos").tBodies[0].replaceChildren(
    ...top.map((entry) => {
      const id = entry.video.replace(/^videos\//, "");
      const row = document.createElement("tr");
      row.dataset.video = id;
      const title = document.createElement("td");
      const link = document.createElement("a");
      link.href = `?video=${encodeURIComponent(id)}`;
      link.textContent = (state.videos.get(id) || {}).title || id;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        choose(id);
        refresh();
      });
      title.append(link);
      const views = document.createElement("td");
      views.className = "number";
      views.textContent = numbers.format(Number(entry.views || 0));
      const watched = document.createElement("td");
      watched.className = "number";
      watched.textContent = formatSpan(seconds(entry.watchTime));
      row.append(title, views, watched);
      return row;
    }),
  );
}

// -- wiring ----------------------------------------------------------------------------------

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const button = event.submitter;
  if (button) button.disabled = true;
  try {
    await signIn(key);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showSignIn(explainKeyError(error));
  } finally {
    if (button) button.disabled = false;
  }
});
$("sign-out").addEventListener("click", () => showSignIn());
$("video-select").addEventListener("change", (event) => {
  choose(event.target.value);
  refresh();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});

const savedKey = sessionStorage.getItem(KEY_STORAGE);
if (savedKey) {
  signIn(savedKey).catch((error) => showSignIn(error instanceof ApiError ? explainKeyError(error) : String(error)));
} else {
  showSignIn();
}
