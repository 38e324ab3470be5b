// Who this browser is to vidmesh, for the pages that say so: analytics events (player-events.js),
// recommendations and reactions (recs.js). Viewers are anonymous: no account, no key, only a
// random id this browser keeps.
"use strict";

const VIEWER_ID_KEY = "vidmesh.viewerId";

// A random UUID (v4) from getRandomValues, which, unlike crypto.randomUUID, also works on
// pages served over plain http from a LAN address.
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The browser's anonymous viewer id, kept across visits; without storage (blocked, private
// mode) there is none and the session counts as its own viewer.
function anonymousViewerId() {
  try {
    let id = localStorage.getItem(VIEWER_ID_KEY);
    if (!id) {
      id = randomId();
      localStorage.setItem(VIEWER_ID_KEY, id);
    }
    return id;
  } catch {
    return "";
  }
}
