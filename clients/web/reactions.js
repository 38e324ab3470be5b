// Likes, dislikes and sharing on the watch page (RecsService's GetReactions, SetReaction and
// RecordShare through recs.js). The buttons show the counts and, in aria-pressed, the viewer's
// own reaction; pressing the pressed one takes it back (REACTION_NONE). A press shows its result
// at once, then the service's counts; if the service refuses it or cannot be reached, the
// buttons go back to what they showed before and a short message says why.
"use strict";

const REACTION_MESSAGE_MS = 4000;
const reactionNumber = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

// What the buttons show: counts (null while unknown) and the viewer's reaction, from a
// {Set,Get}Reaction or RecordShare answer ({"reactions": VideoReactions}; int64 counts come as
// strings, and zeros may be left out).
function reactionState(answer) {
  const reactions = answer.reactions || {};
  return {
    likes: Number(reactions.likeCount || 0),
    dislikes: Number(reactions.dislikeCount || 0),
    mine: reactions.viewerReaction || "REACTION_NONE",
  };
}

// The state a change of the viewer's reaction leads to, before the service confirms it.
function withReaction(state, next) {
  const known = state.likes !== null;
  const likes = known ? state.likes - (state.mine === "REACTION_LIKE") + (next === "REACTION_LIKE") : null;
  const dislikes = known ? state.dislikes - (state.mine === "REACTION_DISLIKE") + (next === "REACTION_DISLIKE") : null;
  return { likes, dislikes, mine: next };
}

// A short message at the bottom of the window that goes by itself: it takes no room in the
// page, so nothing below the buttons moves when it comes and goes.
let reactionMessageTimer = 0;

function sayAboutReactions(text) {
  const line = document.getElementById("reaction-status");
  clearTimeout(reactionMessageTimer);
  line.textContent = text;
  line.hidden = false;
  reactionMessageTimer = setTimeout(() => (line.hidden = true), REACTION_MESSAGE_MS);
}

// navigator.clipboard exists only in secure contexts (https, localhost) and may be refused;
// then the link is shown, selected, for the viewer to copy.
async function copyLink(link) {
  try {
    await navigator.clipboard.writeText(link);
    document.getElementById("share-link").hidden = true;
    return true;
  } catch {
    const field = document.getElementById("share-url");
    field.value = link;
    document.getElementById("share-link").hidden = false;
    field.focus();
    field.select();
    return false;
  }
}

function startReactions(video) {
  const group = document.getElementById("reactions");
  const like = document.getElementById("like");
  const dislike = document.getElementById("dislike");
  const viewerId = anonymousViewerId();
  const base = `/v1/videos/${encodeURIComponent(video.id)}`;
  let state = { likes: null, dislikes: null, mine: "REACTION_NONE" };
  let busy = false;
  // Presses so far: an answer to a call sent before the latest press is older than what the
  // buttons show, and is not shown.
  let presses = 0;
  // A share whose answer never came: a second press sends its id again, so a share the service
  // recorded before the failure is not counted twice.
  let unconfirmedShareId = "";

  function render() {
    like.setAttribute("aria-pressed", String(state.mine === "REACTION_LIKE"));
    dislike.setAttribute("aria-pressed", String(state.mine === "REACTION_DISLIKE"));
    document.getElementById("like-count").textContent = state.likes === null ? "" : reactionNumber.format(state.likes);
    document.getElementById("dislike-count").textContent = state.dislikes === null ? "" : reactionNumber.format(state.dislikes);
    group.setAttribute("aria-busy", String(busy));
  }

  // One change at a time: a second press while the first is on its way would race it.
  async function react(pressed) {
    if (busy) return;
    presses += 1;
    const before = state;
    const next = state.mine === pressed ? "REACTION_NONE" : pressed;
    state = withReaction(state, next);
    busy = true;
    render();
    try {
      state = reactionState(await recsCall(`${base}:react`, { method: "POST", body: { reaction: next, viewerId } }));
    } catch (error) {
      state = before;
      const noun = (next === "REACTION_NONE" ? before.mine : next) === "REACTION_LIKE" ? "like" : "dislike";
      sayAboutReactions(`Your ${noun} was not ${next === "REACTION_NONE" ? "taken back" : "saved"}. ${error.message}`);
    } finally {
      busy = false;
      render();
    }
  }

  // The link is copied first (that is what the viewer asked for), then the share is recorded.
  async function share() {
    const copied = await copyLink(`${location.origin}/watch/${encodeURIComponent(video.id)}`);
    sayAboutReactions(copied ? "Link copied." : "Copy the link below.");
    if (!viewerId) return; // shares, like reactions, are recorded for a viewer only
    const requestId = unconfirmedShareId || randomId();
    unconfirmedShareId = requestId;
    const since = presses;
    try {
      const answer = await recsCall(`${base}:share`, { method: "POST", body: { requestId, viewerId } });
      unconfirmedShareId = "";
      if (since === presses) state = reactionState(answer);
      render();
    } catch (error) {
      if (error.status >= 400 && error.status < 500) unconfirmedShareId = ""; // refused: that id is spent
      sayAboutReactions(`${copied ? "Link copied, but the" : "The"} share was not recorded. ${error.message}`);
    }
  }

  async function loadReactions() {
    const query = viewerId ? `?${new URLSearchParams({ viewerId })}` : "";
    const since = presses;
    try {
      const answer = await recsCall(`${base}/reactions${query}`);
      if (since === presses) state = reactionState(answer);
      render();
    } catch (error) {
      // Without the counts the buttons still work (their answer brings the counts); a video the
      // service does not know as visible cannot be reacted to at all.
      if (error.status === 404) group.hidden = true;
    }
  }

  like.addEventListener("click", () => react("REACTION_LIKE"));
  dislike.addEventListener("click", () => react("REACTION_DISLIKE"));
  document.getElementById("share").addEventListener("click", share);
  document.getElementById("share-url").addEventListener("focus", (event) => event.target.select());
  // Without storage (blocked, some private modes) this browser has no viewer id, and the service
  // takes reactions only from a viewer: the counts show, the buttons cannot be pressed.
  if (!viewerId) {
    for (const button of [like, dislike]) {
      button.disabled = true;
      button.title = "Reactions need this site's storage, which this browser blocks";
    }
  }
  group.hidden = false;
  render();
  loadReactions();
}
