// Chat protocol client (docs/protocol.md): WebSocket with heartbeat, reconnect
// with exponential backoff and full jitter, resume from the last seq, an outbox
// persisted in localStorage so nothing typed is lost, and an HTTP fallback when
// WebSocket cannot connect. The UI receives plain events through onEvent.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 20000;
const WS_FAILURES_BEFORE_HTTP = 3;
const HTTP_POLL_MS = 3000;

function newClientMsgId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ChatClient {
  // trackedOnly: follow only the conversations passed to track() (an agent console gets every
  // inbox's messages; it must not resume each of them from seq 0).
  // storage: anything with getItem/setItem (default localStorage; the widget passes one its
  // host page keeps when third-party storage is blocked).
  constructor({ wsUrl, apiRoot, role, storageKey, authHeader = null, csrfToken = null, onEvent = () => {}, onStatus = () => {}, trackedOnly = false, storage = globalThis.localStorage }) {
    Object.assign(this, { wsUrl, apiRoot, role, storageKey, authHeader, csrfToken, onEvent, onStatus, trackedOnly, storage });
    this.calls = new Map();
    this.throttled = null; // timer while the server asks us to wait (rate_limited): the outbox is held until then
    this.refSeq = 0;
    this.lastSeq = new Map(JSON.parse(storage.getItem(`${storageKey}:seq`) || "[]"));
    this.outbox = JSON.parse(storage.getItem(`${storageKey}:outbox`) || "[]");
    this.attempt = 0;
    this.everOpened = false;
    this.mode = "ws";
    this.ws = null;
  }

  // --- public API ----------------------------------------------------------
  start() {
    this.connect();
    // The device says the network is gone: a socket may look open for a long time before it
    // fails, so drop it now; sends wait in the outbox and go out on reconnect.
    globalThis.addEventListener?.("offline", () => {
      const ws = this.ws;
      if (!ws) return;
      this.ws = null;
      clearInterval(this.heartbeat);
      try {
        ws.close();
      } catch { /* already closing */ }
      this.onStatus("offline");
      this.scheduleReconnect();
    });
    // Back on the network (phones switch often): reconnect now rather than after the backoff.
    globalThis.addEventListener?.("online", () => {
      if (!this.isOpen()) {
        clearTimeout(this.reconnectTimer);
        this.attempt = 0;
        this.connect();
      }
    });
  }

  // A request frame answered by "<type>.ok" or "error" carrying the same ref.
  call(frame, timeoutMs = 10000) {
    if (!this.isOpen()) return Promise.reject(new Error("offline"));
    const ref = `r${++this.refSeq}`;
    return new Promise((resolve, reject) => {
      this.calls.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, ref }));
      setTimeout(() => this.calls.delete(ref) && reject(new Error("timeout")), timeoutMs);
    });
  }

  // A fire-and-forget frame (read, visibility); false when not connected.
  frame(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  untrack(conversationId) {
    this.lastSeq.delete(conversationId);
  }

  send(body, conversationId = null, extra = {}) {
    const item = { client_msg_id: newClientMsgId(), body, conversation_id: conversationId, ...extra };
    this.outbox.push(item);
    this.save();
    this.onEvent({ type: "pending", item });
    this.flushOne(item);
    return item.client_msg_id;
  }

  typing(conversationId, isTyping) {
    if (this.isOpen()) this.ws.send(JSON.stringify({ type: "typing", conversation_id: conversationId, is_typing: isTyping }));
  }

  track(conversationId, lastSeq = 0) {
    if (!this.lastSeq.has(conversationId)) this.lastSeq.set(conversationId, lastSeq);
    this.resume(conversationId);
  }

  // --- WebSocket -------------------------------------------------------------
  isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    this.onStatus("connecting");
    let opened = false;
    const ws = new WebSocket(this.wsUrl);
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.everOpened = true;
      this.attempt = 0;
      this.mode = "ws";
      this.onStatus("online");
    };
    ws.onmessage = (e) => this.handle(JSON.parse(e.data));
    ws.onclose = () => {
      clearInterval(this.heartbeat);
      if (this.ws !== ws) return;
      this.onStatus("offline");
      if (!opened && ++this.failures >= WS_FAILURES_BEFORE_HTTP && !this.everOpened) this.startHttpFallback();
      this.scheduleReconnect();
    };
    this.failures = this.failures || 0;
  }

  scheduleReconnect() {
    // Full jitter: spreads a thundering herd of reconnects after a server restart.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), Math.random() * cap);
  }

  startHeartbeat(seconds) {
    clearInterval(this.heartbeat);
    this.lastFrameAt = Date.now();
    this.heartbeat = setInterval(() => {
      if (!this.isOpen()) return;
      if (Date.now() - this.lastFrameAt > seconds * 2000) return this.ws.close(); // dead link: reconnect
      this.ws.send(JSON.stringify({ type: "ping" }));
    }, seconds * 1000);
  }

  handle(frame) {
    this.lastFrameAt = Date.now();
    const call = frame.ref != null && this.calls.get(frame.ref);
    if (call) {
      this.calls.delete(frame.ref);
      if (frame.type === "error") call.reject(Object.assign(new Error(frame.message), { code: frame.code }));
      else call.resolve(frame);
    }
    switch (frame.type) {
      case "hello":
        this.startHeartbeat(frame.heartbeat_interval || 25);
        for (const c of frame.conversations || []) this.noteConversation(c);
        for (const id of this.lastSeq.keys()) this.resume(id);
        for (const item of this.outbox) this.flushOne(item);
        break;
      case "message":
        this.receive(frame.message);
        break;
      case "messages":
        for (const m of frame.messages) this.receive(m, true);
        if (frame.has_more) this.resume(frame.conversation_id);
        else if (frame.last_seq > (this.lastSeq.get(frame.conversation_id) || 0)) this.setSeq(frame.conversation_id, frame.last_seq);
        break;
      case "ack":
        this.settle(frame.client_msg_id);
        this.receive(frame.message);
        break;
      case "conversation.created":
      case "conversation.updated":
        this.noteConversation(frame.conversation);
        break;
      case "error":
        // Throttled (rate_limited): nothing was stored; the send stays in the outbox and goes again
        // after retry_after seconds. Any other rejected send will never succeed as is: drop it.
        if (frame.client_msg_id && frame.code === "rate_limited") this.holdOutbox(frame.retry_after);
        else if (frame.client_msg_id && frame.code !== "internal") this.settle(frame.client_msg_id);
        break;
    }
    this.onEvent(frame);
  }

  noteConversation(c) {
    if (this.trackedOnly && !this.lastSeq.has(c.id)) return;
    if (!this.lastSeq.has(c.id)) this.lastSeq.set(c.id, 0);
    if (c.last_seq > this.lastSeq.get(c.id)) this.resume(c.id);
  }

  receive(message, fromResume = false) {
    const id = message.conversation_id;
    if (this.trackedOnly && !this.lastSeq.has(id)) return;
    const last = this.lastSeq.get(id) || 0;
    if (message.seq <= last) return; // duplicate (ack and live copy, or a replay)
    if (message.seq > last + 1 && !fromResume) return this.resume(id); // gap: fetch in order
    this.setSeq(id, message.seq);
    this.onEvent({ type: "deliver", message, live: !fromResume }); // live: not a history replay
  }

  resume(conversationId) {
    const after = this.lastSeq.get(conversationId) || 0;
    if (this.isOpen()) this.ws.send(JSON.stringify({ type: "resume", conversation_id: conversationId, after_seq: after }));
    else if (this.mode === "http") this.httpFetch(conversationId, after);
  }

  setSeq(id, seq) {
    this.lastSeq.set(id, seq);
    this.save();
  }

  settle(clientMsgId) {
    this.outbox = this.outbox.filter((i) => i.client_msg_id !== clientMsgId);
    this.save();
  }

  // The whole outbox waits (not just the refused item) so that messages still go out in order.
  holdOutbox(seconds) {
    clearTimeout(this.throttled);
    this.throttled = setTimeout(() => {
      this.throttled = null;
      for (const item of this.outbox) this.flushOne(item);
    }, Math.max(1, Number(seconds) || 1) * 1000);
  }

  save() {
    this.storage.setItem(`${this.storageKey}:seq`, JSON.stringify([...this.lastSeq]));
    this.storage.setItem(`${this.storageKey}:outbox`, JSON.stringify(this.outbox));
  }

  flushOne(item) {
    if (this.throttled) return; // sent when the wait is over (holdOutbox)
    if (this.isOpen()) this.ws.send(JSON.stringify({ type: "send", ...item }));
    else if (this.mode === "http") this.httpSend(item);
  }

  // --- HTTP fallback ---------------------------------------------------------
  startHttpFallback() {
    if (this.mode === "http") return;
    this.mode = "http";
    this.onStatus("http");
    const poll = async () => {
      if (this.mode !== "http") return;
      if (this.role === "customer") {
        const data = await this.http("GET", "conversations");
        for (const c of (data && data.conversations) || []) this.noteConversation(c);
      }
      for (const [id, seq] of this.lastSeq) this.httpFetch(id, seq);
      if (!this.throttled) for (const item of this.outbox) this.httpSend(item);
      setTimeout(poll, HTTP_POLL_MS);
    };
    poll();
  }

  async http(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (this.authHeader) headers.Authorization = this.authHeader;
    if (this.csrfToken) headers["X-CSRFToken"] = this.csrfToken;
    try {
      const r = await fetch(this.apiRoot + path, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
      const data = await r.json();
      return r.ok ? data : { error: data.error, status: r.status };
    } catch {
      return null; // network down: the next poll retries
    }
  }

  async httpFetch(conversationId, after) {
    const data = await this.http("GET", `conversations/${conversationId}/messages?after_seq=${after}`);
    if (data && data.messages) this.handle({ type: "messages", ...data });
  }

  async httpSend(item) {
    const path = item.conversation_id ? `conversations/${item.conversation_id}/messages` : "customer/messages";
    const data = await this.http("POST", path, item);
    if (data && data.message) this.handle({ type: "ack", client_msg_id: item.client_msg_id, ...data });
    else if (data && data.status >= 400 && data.status < 500) this.handle({ type: "error", client_msg_id: item.client_msg_id, ...data.error });
  }
}
