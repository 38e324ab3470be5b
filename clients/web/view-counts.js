// Public view counts (AnalyticsService.BatchGetViewCounts), for the home page's cards and the
// watch page. Anyone may ask; videos the caller may not see are left out of the answer.
"use strict";

const VIEW_COUNT_BATCH = 100; // the most one call takes

// Views by video id, for any number of ids; ids the service left out are missing.
async function fetchViewCounts(ids) {
  const counts = new Map();
  for (let start = 0; start < ids.length; start += VIEW_COUNT_BATCH) {
    const query = new URLSearchParams();
    for (const id of ids.slice(start, start + VIEW_COUNT_BATCH)) query.append("videos", `videos/${id}`);
    const response = await fetch(`/v1/videos:batchGetViewCounts?${query}`);
    if (!response.ok) throw new Error(`view counts: HTTP ${response.status}`);
    const body = await response.json();
    for (const count of body.viewCounts || []) counts.set(count.video.replace(/^videos\//, ""), Number(count.views || 0));
  }
  return counts;
}

const viewNumber = new Intl.NumberFormat("en-US");

function viewsText(views) {
  if (!views) return "No views yet";
  return `${viewNumber.format(views)} ${views === 1 ? "view" : "views"}`;
}
