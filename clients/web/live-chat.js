// The chat of the live watch page (/stream/{id}): the aside beside the player on wide screens,
// below the stream's details on phones. live.js calls followChat(stream) with every look at the
// stream and stopChat() when there is nothing to watch.
//
// Reading is LiveService.WatchChat over gRPC-Web (same origin, through the gateway): the last
// CHAT_HISTORY messages, then every event, and a keep-alive with the viewer count every 10 s.
// It is a server stream: the body is read as it comes (fetch + a reader), frame by frame, and the
// few protobuf messages it carries are read by the small decoder below (no generated code, no
// library). A call that ends without stream_ended (a dropped network, a server restarting) is
// made again, with backoff, asking for the history again; messages already shown are recognised
// by name, and the ones deleted meanwhile are taken out (see chatReconcile).
//
// Writing is REST (PostChatMessage) with the API key the studio pages keep for this tab; a
// viewer without one is offered a field to paste it. The stream's owner also gets a delete and
// a mute button on each message.
"use strict";

const CHAT_KEY_STORAGE = "vidmesh.apiKey"; // the key the studio pages keep for this tab
const CHAT_HISTORY = 50;
const CHAT_MAX_TEXT = 500; // characters, as the server counts them (code points)
// A page left open for hours keeps the newest this many; older ones leave the list.
const CHAT_MAX_SHOWN = 200;
// Backoff between calls that failed in a row, with jitter so that the viewers of a restarted
// server do not all come back in the same instant.
const CHAT_RETRY_FIRST_MS = 1000;
const CHAT_RETRY_MAX_MS = 15_000;
// The server sends nothing, not even the response headers, until there is a message or the first
// keep-alive (10 s). A call that has not failed within this time is taken as connected, and a
// chat that has said nothing by then as empty.
const CHAT_SETTLED_MS = 1500;
// Keep-alives come every 10 s: a call silent for this long is dead (a network gone without a
// word, a laptop back from sleep) and is made again.
const CHAT_SILENT_MS = 25_000;
const CHAT_MUTE_FOR = "600s";
const CHAT_MUTE_WORDS = "10 minutes";
// Within this many pixels of the bottom, the list counts as following the newest message.
const CHAT_PINNED_PX = 32;

// gRPC status codes the chat tells apart.
const GRPC_OK = 0;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

const chatEl = (id) => document.getElementById(id);
const chatClock = (date) => date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
const chatNumber = new Intl.NumberFormat("en-US");

const liveChat = {
  stream: null, // the latest GetStream answer
  key: "",
  moderating: false, // the key is the stream owner's
  roleChecked: "", // the key whose role is known (or being asked)
  following: false,
  ended: false,
  call: null, // the AbortController of the open WatchChat call
  cursor: null, // order of the last message the open call delivered
  shown: new Map(), // message name -> its <li>
  sending: false,
  draftId: "", // request id of the text in the box while a post of it is unconfirmed
  settled: false, // the first call had its chance to send the history (CHAT_SETTLED_MS)
  onEnded: null, // live.js's: called when the chat says the stream ended before GetStream did
  setUp: false,
};

// -- the protobuf wire format, for the few messages the chat reads and writes -----------------
//
// A message is a run of fields, each a key (field number × 8 + wire type, as a varint) then its
// value: wire type 0 a varint; 2 a varint length, then that many bytes (strings and nested
// messages); 1 and 5 eight and four fixed bytes. Fields this page does not know are skipped by
// their wire type, so the server may add fields without breaking the page.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;
const chatUtf8 = { decoder: new TextDecoder(), encoder: new TextEncoder() };

class ProtoReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  // Seven bits a byte, least significant first. The numbers here (seconds, counts) stay far
  // below 2^53, so plain arithmetic reads them exactly; 32-bit bit operations would not.
  varint() {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i += 1) {
      if (this.at >= this.bytes.length) throw new Error("a varint runs past the end of the message");
      const byte = this.bytes[this.at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Error("a varint is longer than 10 bytes");
  }

  lengthDelimited() {
    const length = this.varint();
    const end = this.at + length;
    if (end > this.bytes.length) throw new Error("a field runs past the end of the message");
    const value = this.bytes.subarray(this.at, end);
    this.at = end;
    return value;
  }

  string() {
    return chatUtf8.decoder.decode(this.lengthDelimited());
  }

  skip(wireType) {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_LENGTH) this.lengthDelimited();
    else if (wireType === WIRE_FIXED64) this.at += 8;
    else if (wireType === WIRE_FIXED32) this.at += 4;
    else throw new Error(`wire type ${wireType} is not one proto3 writes`); // 3 and 4: groups
    if (this.at > this.bytes.length) throw new Error("a field runs past the end of the message");
  }

  // [field number, wire type] of each field in turn: the caller reads the value, or skips it.
  *fields() {
    while (this.at < this.bytes.length) {
      const key = this.varint();
      yield [Math.floor(key / 8), key % 8];
    }
  }
}

class ProtoWriter {
  constructor() {
    this.bytes = [];
  }

  varint(value) {
    let rest = value;
    while (rest >= 0x80) {
      this.bytes.push((rest % 128) | 0x80);
      rest = Math.floor(rest / 128);
    }
    this.bytes.push(rest);
    return this;
  }

  // proto3 leaves fields at their default (empty, 0) out.
  string(field, text) {
    if (!text) return this;
    const encoded = chatUtf8.encoder.encode(text);
    this.varint(field * 8 + WIRE_LENGTH).varint(encoded.length);
    this.bytes.push(...encoded);
    return this;
  }

  int(field, value) {
    if (!value) return this;
    return this.varint(field * 8 + WIRE_VARINT).varint(value);
  }

  finish() {
    return Uint8Array.from(this.bytes);
  }
}

// WatchChatRequest { string parent = 1; int32 history_size = 2; }
function encodeWatchChatRequest(parent, historySize) {
  return new ProtoWriter().string(1, parent).int(2, historySize).finish();
}

// google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }, as a Date.
function decodeTimestamp(bytes) {
  let seconds = 0;
  let nanos = 0;
  const reader = new ProtoReader(bytes);
  for (const [field, wire] of reader.fields()) {
    if (field === 1 && wire === WIRE_VARINT) seconds = reader.varint();
    else if (field === 2 && wire === WIRE_VARINT) nanos = reader.varint();
    else reader.skip(wire);
  }
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}

// ChatMessage { string name = 1; string author = 2; string text = 3; Timestamp create_time = 4; }
function decodeChatMessage(bytes) {
  const message = { name: "", author: "", text: "", createTime: null };
  const reader = new ProtoReader(bytes);
  for (const [field, wire] of reader.fields()) {
    if (field === 1 && wire === WIRE_LENGTH) message.name = reader.string();
    else if (field === 2 && wire === WIRE_LENGTH) message.author = reader.string();
    else if (field === 3 && wire === WIRE_LENGTH) message.text = reader.string();
    else if (field === 4 && wire === WIRE_LENGTH) message.createTime = decodeTimestamp(reader.lengthDelimited());
    else reader.skip(wire);
  }
  return message;
}

// WatchChatResponse { oneof event { ChatMessage message = 1; string deleted_message = 2;
// bool stream_ended = 3; } int64 viewer_count = 4; }. `event` says which one was set (none in a
// keep-alive); for a oneof, the last one on the wire wins.
function decodeWatchChatResponse(bytes) {
  const response = { event: "", message: null, deletedMessage: "", streamEnded: false, viewerCount: 0 };
  const reader = new ProtoReader(bytes);
  for (const [field, wire] of reader.fields()) {
    if (field === 1 && wire === WIRE_LENGTH) {
      response.event = "message";
      response.message = decodeChatMessage(reader.lengthDelimited());
    } else if (field === 2 && wire === WIRE_LENGTH) {
      response.event = "deletedMessage";
      response.deletedMessage = reader.string();
    } else if (field === 3 && wire === WIRE_VARINT) {
      response.event = "streamEnded";
      response.streamEnded = reader.varint() !== 0;
    } else if (field === 4 && wire === WIRE_VARINT) {
      response.viewerCount = reader.varint();
    } else {
      reader.skip(wire);
    }
  }
  return response;
}

// -- gRPC-Web framing ---------------------------------------------------------------------------
//
// Each message travels in a frame: a flag byte (0x00 a message, 0x80 the trailers: grpc-status
// and grpc-message as HTTP/1 header lines), a 4-byte big-endian length, then that many bytes.

function grpcWebFrame(message) {
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length); // flag byte 0: a message
  frame.set(message, 5);
  return frame;
}

// The network cuts the response body into chunks anywhere: a frame may span chunks and a chunk
// may hold several frames, so bytes wait here until their frame is whole.
class GrpcWebFrames {
  constructor() {
    this.pending = new Uint8Array(0);
  }

  push(chunk) {
    let bytes = chunk;
    if (this.pending.length) {
      bytes = new Uint8Array(this.pending.length + chunk.length);
      bytes.set(this.pending);
      bytes.set(chunk, this.pending.length);
    }
    const frames = [];
    let at = 0;
    while (bytes.length - at >= 5) {
      const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
      if (bytes.length - at - 5 < length) break;
      frames.push({ flag: bytes[at], data: bytes.subarray(at + 5, at + 5 + length) });
      at += 5 + length;
    }
    this.pending = bytes.slice(at);
    return frames;
  }
}

// grpc-message is percent-encoded on the wire.
function grpcMessage(raw) {
  try {
    return decodeURIComponent(raw || "");
  } catch {
    return raw || "";
  }
}

function grpcTrailers(bytes) {
  const lines = chatUtf8.decoder.decode(bytes).split(/\r?\n/);
  const fields = new Map();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = fields.get("grpc-status");
  return { code: status === undefined ? GRPC_UNAVAILABLE : Number(status), message: grpcMessage(fields.get("grpc-message")) };
}

// One WatchChat call: each response goes to onResponse as it arrives; resolves with how the
// call ended ({code, message}), and throws if it is aborted or the network fails.
async function watchChatCall({ parent, historySize, key, signal, onResponse, onBytes }) {
  const headers = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
  if (key) headers.authorization = `Bearer ${key}`;
  const body = grpcWebFrame(encodeWatchChatRequest(parent, historySize));
  const response = await fetch("/vidmesh.live.v1.LiveService/WatchChat", { method: "POST", headers, body, signal, cache: "no-store" });
  onBytes();
  // A call refused at once ("trailers-only") has its status in the headers and an empty body.
  const early = response.headers.get("grpc-status");
  if (early !== null) return { code: Number(early), message: grpcMessage(response.headers.get("grpc-message")) };
  if (!response.ok || !response.body) return { code: GRPC_UNAVAILABLE, message: `HTTP ${response.status}` };
  const frames = new GrpcWebFrames();
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { code: GRPC_UNAVAILABLE, message: "the call was cut off" }; // no trailers: not a proper end
    onBytes();
    for (const frame of frames.push(value)) {
      if (frame.flag & 0x80) return grpcTrailers(frame.data);
      if (frame.flag & 0x01) throw new Error("the server sent a compressed message"); // none asked for
      onResponse(decodeWatchChatResponse(frame.data));
    }
  }
}

// -- REST calls ---------------------------------------------------------------------------------

// A call the API refused: its google.rpc.Status, with the ErrorInfo reason and metadata and the
// BadRequest fields. status 0: the server could not be reached.
class ChatApiError extends Error {
  constructor(httpStatus, status) {
    super(status.message || `HTTP ${httpStatus}`);
    const detail = (type) => (status.details || []).find((d) => (d["@type"] || "").endsWith(type)) || {};
    const info = detail("google.rpc.ErrorInfo");
    this.status = httpStatus;
    this.reason = info.reason || "";
    this.metadata = info.metadata || {};
    this.fields = (detail("google.rpc.BadRequest").fieldViolations || []).map((v) => v.field);
  }
}

async function chatApi(path, { method = "POST", body } = {}) {
  const headers = { authorization: `Bearer ${liveChat.key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ChatApiError(0, { message: "the server cannot be reached" });
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ChatApiError(response.status, answer);
  return answer;
}

const chatStreamPath = (verb = "") => `/v1/streams/${encodeURIComponent(liveChat.stream.id)}${verb}`;
const chatMessagePath = (name) => `/v1/${name.split("/").map(encodeURIComponent).join("/")}`;

function chatSentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  return trimmed[0].toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

// -- the list of messages -----------------------------------------------------------------------

// Message ids ("1796411656369-0": milliseconds, then a sequence number) increase with time
// within a stream: the list is kept in their order.
function chatOrder(name) {
  const [ms, seq] = name.slice(name.lastIndexOf("/") + 1).split("-");
  return [Number(ms) || 0, Number(seq) || 0];
}

const chatBefore = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

function chatNearBottom() {
  const scroller = chatEl("chat-scroll");
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= CHAT_PINNED_PX;
}

function chatToBottom() {
  const scroller = chatEl("chat-scroll");
  scroller.scrollTop = scroller.scrollHeight;
  chatEl("chat-more").hidden = true;
}

function chatIcon(path) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
  shape.setAttribute("d", path);
  svg.append(shape);
  return svg;
}

const CHAT_DELETE_ICON = "M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z";
const CHAT_MUTE_ICON =
  "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM4 12a8 8 0 0 1 12.9-6.3L5.7 16.9A7.9 7.9 0 0 1 4 12zm8 8a7.9 7.9 0 0 1-4.9-1.7L18.3 7.1A8 8 0 0 1 12 20z";

function chatTool(action, label, icon) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "chat-tool";
  button.dataset.action = action;
  button.setAttribute("aria-label", label);
  button.title = label;
  button.append(chatIcon(icon));
  return button;
}

// One message: the time, the author and the text, all as text (never HTML), and the owner's
// tools (shown by CSS while the list is .moderating).
function chatItem(message) {
  const item = document.createElement("li");
  item.className = "chat-message";
  item.dataset.name = message.name;
  item.dataset.author = message.author;
  if (liveChat.stream && message.author === liveChat.stream.owner) item.classList.add("by-owner");
  const line = document.createElement("p");
  if (message.createTime) {
    const time = document.createElement("time");
    time.className = "chat-time";
    time.dateTime = message.createTime.toISOString();
    time.title = message.createTime.toLocaleString("en-GB");
    time.textContent = chatClock(message.createTime);
    line.append(time, " ");
  }
  const author = document.createElement("span");
  author.className = "chat-author";
  author.textContent = message.author;
  const text = document.createElement("span");
  text.className = "chat-text";
  text.textContent = message.text;
  line.append(author, " ", text);
  const tools = document.createElement("span");
  tools.className = "chat-tools";
  tools.append(chatTool("delete", `Delete ${message.author}'s message`, CHAT_DELETE_ICON));
  // The owner does not mute themselves.
  if (!liveChat.stream || message.author !== liveChat.stream.owner) {
    tools.append(chatTool("mute", `Mute ${message.author} for ${CHAT_MUTE_WORDS}`, CHAT_MUTE_ICON));
  }
  item.append(line, tools);
  return item;
}

// A call delivers messages in id order (the server appends and publishes a message in one
// step), and a new call's history and the events after it are an unbroken run of the chat: a
// message shown between two that one call delivered in a row was deleted (while the page was not
// listening, or it would have been told).
function chatReconcile(order) {
  const previous = liveChat.cursor;
  if (previous && !chatBefore(previous, order)) return; // out of order: nothing can be concluded
  liveChat.cursor = order;
  if (!previous) return;
  for (const [name, item] of liveChat.shown) {
    const at = chatOrder(name);
    if (chatBefore(previous, at) && chatBefore(at, order)) chatRemove(name, item);
  }
}

function chatAdd(message, { fromCall = false, own = false } = {}) {
  const order = chatOrder(message.name);
  if (fromCall) chatReconcile(order);
  if (liveChat.shown.has(message.name)) return;
  const follow = own || chatNearBottom();
  const item = chatItem(message);
  const list = chatEl("chat-list");
  // Nearly always the newest: from the end, the first shown message older than this one.
  let after = list.lastElementChild;
  while (after && chatBefore(order, chatOrder(after.dataset.name))) after = after.previousElementSibling;
  if (after) after.after(item);
  else list.prepend(item);
  liveChat.shown.set(message.name, item);
  while (liveChat.shown.size > CHAT_MAX_SHOWN) chatRemove(list.firstElementChild.dataset.name);
  chatEmptyNote();
  if (follow) chatToBottom();
  else chatEl("chat-more").hidden = false;
}

function chatRemove(name, item = liveChat.shown.get(name)) {
  if (!item) return;
  item.remove();
  liveChat.shown.delete(name);
  chatEmptyNote();
}

// Said only once the chat had its chance to send its history (see CHAT_SETTLED_MS).
function chatEmptyNote() {
  chatEl("chat-empty").hidden = !liveChat.settled || liveChat.shown.size > 0;
}

// -- the viewer count and the state of the chat ---------------------------------------------------

// Shown in the line under the title: from GetStream (every look at the stream) and from the
// chat's keep-alives (every 10 s), whichever came last.
function chatViewers(count) {
  const line = chatEl("viewers");
  line.textContent = `${chatNumber.format(count)} watching`;
  line.hidden = chatClosed() || !(count > 0);
}

function chatConnection(text) {
  chatEl("chat-connection").textContent = text;
  chatEl("chat-connection").hidden = !text;
}

// The chat of an ENDED stream takes no more messages; its call still brings the history, then
// stream_ended.
const chatClosed = () => liveChat.ended || (liveChat.stream && liveChat.stream.state === "LIVE_STREAM_STATE_ENDED");

// What the foot of the panel offers: the box, a way to sign in, or the end.
function chatFoot() {
  const ended = chatClosed();
  chatEl("chat-ended").hidden = !ended;
  chatEl("chat-form").hidden = ended || !liveChat.key;
  chatEl("chat-sign-in").hidden = ended || Boolean(liveChat.key);
  chatEl("chat-list").classList.toggle("moderating", liveChat.moderating && !ended);
}

// The call, if open, is left to end by itself: the server ends it with OK after stream_ended.
function chatEnded() {
  const news = !chatClosed();
  liveChat.ended = true;
  chatConnection("");
  chatFeedback("");
  chatFoot();
  chatViewers(0);
  if (news && liveChat.onEnded) liveChat.onEnded();
}

// -- following the chat -------------------------------------------------------------------------

const chatSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function chatBackoff(failures) {
  const ceiling = Math.min(CHAT_RETRY_MAX_MS, CHAT_RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

function chatHeard(response) {
  if (response.event === "message") chatAdd(response.message, { fromCall: true });
  else if (response.event === "deletedMessage") chatRemove(response.deletedMessage);
  else if (response.event === "streamEnded") chatEnded();
  else chatViewers(response.viewerCount); // a keep-alive
}

// One call after another until the stream's chat ends or the page stops following it.
async function chatWatch() {
  let failures = 0;
  while (liveChat.following && !liveChat.ended) {
    const call = new AbortController();
    liveChat.call = call;
    liveChat.cursor = null;
    let heard = false;
    let lastHeard = Date.now();
    // Nothing for CHAT_SILENT_MS: the call is dead though the network did not say so.
    const watchdog = setInterval(() => {
      if (Date.now() - lastHeard > CHAT_SILENT_MS) call.abort();
    }, 5000);
    // Not failed by now: connected (and a chat that sent nothing has no history).
    const settled = setTimeout(() => {
      chatConnection("");
      liveChat.settled = true;
      chatEmptyNote();
    }, CHAT_SETTLED_MS);
    let outcome;
    try {
      outcome = await watchChatCall({
        parent: liveChat.stream.name,
        historySize: CHAT_HISTORY,
        key: liveChat.key,
        signal: call.signal,
        onBytes: () => (lastHeard = Date.now()),
        onResponse: (response) => {
          if (!heard && failures) chatConnection("");
          heard = true;
          chatHeard(response);
        },
      });
    } catch (error) {
      outcome = { code: GRPC_UNAVAILABLE, message: error.message };
    } finally {
      clearInterval(watchdog);
      clearTimeout(settled);
    }
    if (!liveChat.following || liveChat.ended || liveChat.call !== call) return;
    if (outcome.code === GRPC_UNAUTHENTICATED && liveChat.key) {
      // A key that no longer works is no reason not to read a public chat: read without it.
      chatForgetKey("Your API key was not accepted; sign in again to chat.");
      continue;
    }
    if (outcome.code === GRPC_INVALID_ARGUMENT) {
      chatConnection(`The chat could not be loaded. ${chatSentence(outcome.message)}`);
      return; // asking again would be refused again
    }
    // Anything else is tried again: OK without stream_ended (a server going away), a server
    // restarting, no network, and RESOURCE_EXHAUSTED (this page fell too far behind: at once,
    // if the call was working until then).
    const fellBehind = heard && outcome.code === GRPC_RESOURCE_EXHAUSTED;
    failures = heard ? 1 : failures + 1;
    if (outcome.code === GRPC_NOT_FOUND) chatConnection("This chat is not available right now; trying again…");
    else if (!fellBehind) chatConnection("Reconnecting to the chat…");
    await chatSleep(fellBehind ? 0 : chatBackoff(failures));
  }
}

// -- who the viewer is ----------------------------------------------------------------------------

// Whether the key is the stream owner's. The API has no "who am I" call, and the studio's way
// (the owner of the caller's transcode jobs) says nothing for a creator with no uploads. Making a
// playback URL is for the stream's owner only and changes nothing (the token is signed, not
// stored; this one is dropped), so its answer is the one wanted: 200 the owner, 403 someone
// else, 401 a key that does not work. An ended stream gets no URL, and its chat needs no
// moderator: its role stays "viewer".
async function chatKeyRole(key) {
  if (liveChat.stream.state === "LIVE_STREAM_STATE_ENDED") return "viewer";
  let response;
  try {
    response = await fetch(chatStreamPath(":createPlaybackUrl"), {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ ttl: "60s" }),
    });
  } catch {
    return "unknown";
  }
  if (response.status === 401) return "invalid";
  return response.ok ? "owner" : "viewer";
}

async function chatLearnRole() {
  const key = liveChat.key;
  if (!key || liveChat.roleChecked === key) return;
  liveChat.roleChecked = key;
  const role = await chatKeyRole(key);
  if (liveChat.key !== key) return; // signed in with another meanwhile
  if (role === "invalid") return chatForgetKey("Your API key was not accepted; sign in again to chat.");
  if (role === "unknown") liveChat.roleChecked = ""; // asked again at the next look
  liveChat.moderating = role === "owner";
  chatFoot();
}

function chatForgetKey(why) {
  liveChat.key = "";
  liveChat.moderating = false;
  liveChat.roleChecked = "";
  sessionStorage.removeItem(CHAT_KEY_STORAGE);
  chatFoot();
  chatSignInError(why);
}

function chatSignInError(text) {
  chatEl("chat-key-error").textContent = text;
  chatEl("chat-key-error").hidden = !text;
}

async function chatSignIn(event) {
  event.preventDefault();
  const field = chatEl("chat-key");
  const key = field.value.trim();
  if (!key) return field.focus();
  const button = chatEl("chat-sign-in").querySelector("button");
  button.disabled = true;
  const role = await chatKeyRole(key);
  button.disabled = false;
  if (role === "invalid") return chatSignInError("This API key was not accepted. Check it and paste it again.");
  if (role === "unknown") return chatSignInError("Could not sign in: the server cannot be reached. Try again.");
  sessionStorage.setItem(CHAT_KEY_STORAGE, key); // as the studio pages keep it: for this tab
  liveChat.key = key;
  liveChat.roleChecked = key;
  liveChat.moderating = role === "owner";
  field.value = "";
  chatSignInError("");
  chatFoot();
  chatEl("chat-text").focus();
}

// -- posting --------------------------------------------------------------------------------------

const chatLength = (text) => [...text].length;

function chatFeedback(text, { problem = true } = {}) {
  const line = chatEl("chat-feedback");
  line.textContent = text;
  line.classList.toggle("error", problem);
  line.hidden = !text;
}

function chatCounter() {
  const used = chatLength(chatEl("chat-text").value);
  const counter = chatEl("chat-count");
  counter.textContent = `${used}/${CHAT_MAX_TEXT}`;
  counter.classList.toggle("over", used > CHAT_MAX_TEXT);
  chatEl("chat-send").disabled = liveChat.sending || used > CHAT_MAX_TEXT;
}

// A refused post, in words; the text stays in the box.
function chatRefusal(error, text) {
  const owner = liveChat.stream.owner;
  switch (error.reason) {
    case "CHAT_RATE_LIMITED": {
      const seconds = Math.max(1, Math.ceil(Number(error.metadata.retry_after_ms || 1000) / 1000));
      return `You are sending messages too fast. Wait ${seconds} second${seconds === 1 ? "" : "s"} and send it again.`;
    }
    case "CHAT_MUTED": {
      const until = Date.parse(error.metadata.until || "");
      return `${owner} has muted you in this chat${Number.isNaN(until) ? "" : ` until ${chatClock(new Date(until))}`}.`;
    }
    case "STREAM_ENDED":
      return "The stream has ended, and its chat with it.";
    default:
      break;
  }
  if (error.fields.includes("text")) {
    if (!text.trim()) return "Write something first.";
    return `A message can have ${CHAT_MAX_TEXT} characters at most.`;
  }
  if (error.status === 0) return "Your message was not sent: the server cannot be reached. Send it again.";
  return `Your message was not sent. ${chatSentence(error.message)}`;
}

async function chatSend() {
  const box = chatEl("chat-text");
  const text = box.value;
  if (liveChat.sending || !text.trim()) return;
  const over = chatLength(text) - CHAT_MAX_TEXT;
  if (over > 0) return chatFeedback(`That is ${over} character${over === 1 ? "" : "s"} too long: a message can have ${CHAT_MAX_TEXT} at most.`);
  liveChat.sending = true;
  chatCounter();
  // The same id for the same text until it is known to be posted or refused, so sending again
  // after a lost answer does not post it twice.
  const requestId = liveChat.draftId || randomId();
  liveChat.draftId = requestId;
  let answer;
  try {
    answer = await chatApi(chatStreamPath("/chatMessages"), { body: { text, requestId } });
  } catch (error) {
    if (error.status >= 400 && error.status < 500) liveChat.draftId = ""; // refused: that id is spent
    // A key that does not work: the box gives way to the sign-in (the text stays in it).
    if (error.status === 401) return chatForgetKey("Your API key was not accepted; sign in again to chat.");
    chatFeedback(chatRefusal(error, text));
    if (error.reason === "STREAM_ENDED") chatEnded();
    return;
  } finally {
    liveChat.sending = false;
    chatCounter();
  }
  liveChat.draftId = "";
  if (box.value === text) box.value = "";
  chatFeedback("");
  chatCounter();
  // Shown now (the chat brings it too, and it is not shown twice): the call may be reconnecting.
  const posted = answer.message;
  chatAdd({ ...posted, createTime: posted.createTime ? new Date(posted.createTime) : null }, { own: true });
}

// -- moderating -----------------------------------------------------------------------------------

async function chatModerate(action, item) {
  const name = item.dataset.name;
  const author = item.dataset.author;
  for (const button of item.querySelectorAll("button")) button.disabled = true;
  try {
    if (action === "delete") {
      await chatApi(chatMessagePath(name), { method: "DELETE" });
      chatRemove(name); // the chat tells everyone, this page too; no need to wait for it
    } else {
      const answer = await chatApi(chatStreamPath(":muteChatAuthor"), { body: { author, duration: CHAT_MUTE_FOR } });
      const until = answer.muteExpireTime ? ` until ${chatClock(new Date(answer.muteExpireTime))}` : "";
      chatFeedback(`${author} is muted${until}.`, { problem: false });
    }
  } catch (error) {
    if (error.reason === "NOT_OWNER") {
      // The key is not the owner's after all: no more tools.
      liveChat.moderating = false;
      chatFoot();
      chatFeedback(`Only ${liveChat.stream.owner} can moderate this chat.`);
    } else {
      chatFeedback(`${action === "delete" ? "The message was not deleted" : `${author} was not muted`}. ${chatSentence(error.message)}`);
    }
  } finally {
    for (const button of item.querySelectorAll("button")) button.disabled = false;
  }
}

// -- what live.js calls ---------------------------------------------------------------------------

function chatSetUp() {
  if (liveChat.setUp) return;
  liveChat.setUp = true;
  chatEl("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    chatSend();
  });
  const box = chatEl("chat-text");
  // Enter sends; Shift+Enter starts a new line; Enter that completes an IME composition does
  // neither.
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    chatSend();
  });
  box.addEventListener("input", () => {
    liveChat.draftId = ""; // another text is another message
    chatFeedback(""); // and what was said about the last one is old news
    chatCounter();
  });
  chatEl("chat-sign-in").addEventListener("submit", chatSignIn);
  chatEl("chat-scroll").addEventListener("scroll", () => {
    if (chatNearBottom()) chatEl("chat-more").hidden = true;
  });
  chatEl("chat-more").addEventListener("click", chatToBottom);
  chatEl("chat-list").addEventListener("click", (event) => {
    const button = event.target.closest("button.chat-tool");
    if (button) chatModerate(button.dataset.action, button.closest("li"));
  });
  chatCounter();
}

function followChat(stream, { onEnded = null } = {}) {
  liveChat.stream = stream;
  liveChat.onEnded = onEnded;
  if (!liveChat.following) {
    liveChat.following = true;
    liveChat.key = sessionStorage.getItem(CHAT_KEY_STORAGE) || "";
    chatSetUp();
    chatEl("chat").hidden = false;
    chatEl("chat").closest("main").classList.add("with-chat");
    chatWatch();
  }
  chatViewers(Number(stream.viewerCount || 0));
  chatFoot();
  chatLearnRole();
}

function stopChat() {
  liveChat.following = false;
  if (liveChat.call) liveChat.call.abort();
  chatEl("chat").hidden = true;
  chatEl("chat").closest("main").classList.remove("with-chat");
  chatEl("viewers").hidden = true;
}
