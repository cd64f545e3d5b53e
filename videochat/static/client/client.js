// The bundled web client (docs/web-client.md), written from the client contract alone
// (API.md): REST for login, profile, wallet and ICE servers; one WebSocket for everything
// live (presence heartbeat, call invites and answers, WebRTC signaling, balance pushes).
// Plain modern JavaScript, no build step, nothing loaded from elsewhere. The state a test
// or a style sheet needs is mirrored into data-* attributes of #app.

const HEARTBEAT_MS = 25_000; // presence:update; the server wants one at least every 30 s
const RECONNECT_MAX_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const HOSTS_REFRESH_MS = 20_000;

const $ = (id) => document.getElementById(id);
const app = $("app");

function setState(name, value) {
  app.dataset[name] = value == null ? "" : String(value);
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function say(id, text) {
  $(id).textContent = text || "";
}

// --- Session and REST -----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "server_error";
    this.details = error.details || {};
  }
}

// Tokens live in this tab only (sessionStorage): two tabs or windows can be two people.
const session = {
  get access() { return sessionStorage.getItem("access"); },
  get refresh() { return sessionStorage.getItem("refresh"); },
  save({ access, refresh }) {
    if (access) sessionStorage.setItem("access", access);
    if (refresh) sessionStorage.setItem("refresh", refresh);
  },
  clear() {
    sessionStorage.removeItem("access");
    sessionStorage.removeItem("refresh");
  },
};

function tokenExpiresIn(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp * 1000 - Date.now();
  } catch {
    return 0;
  }
}

let refreshing = null;

// One refresh in flight at a time: refresh tokens rotate, a second use of one is refused.
function refreshTokens() {
  refreshing ??= (async () => {
    try {
      if (!session.refresh) return false;
      const tokens = await api("POST", "auth/token/refresh", { refresh: session.refresh }, {
        auth: false,
      });
      session.save(tokens);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function freshAccessToken() {
  if (tokenExpiresIn(session.access) < 30_000 && !(await refreshTokens())) {
    throw new ApiError(401, { code: "not_authenticated", message: "Please log in again." });
  }
  return session.access;
}

async function api(method, path, body, { auth = true, retried = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth) headers.Authorization = `Bearer ${session.access}`;
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { code: "service_unavailable", message: "The server can't be reached." });
  }
  if (response.status === 401 && auth && !retried) {
    if (await refreshTokens()) return api(method, path, body, { auth, retried: true });
    loggedOut("Your session has expired: please log in again.");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error ?? {});
  return data;
}

// --- The socket -----------------------------------------------------------------------------

class Socket {
  constructor(onFrame, onOpen) {
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.ws = null;
    this.stopped = true;
    this.attempts = 0;
    this.seq = 0;
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.heartbeat = null;
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    this.ws?.close(1000);
    this.ws = null;
    this.failPending();
    setState("socket", "closed");
    say("socket-status", "offline");
  }

  async connect() {
    setState("socket", "connecting");
    say("socket-status", "connecting…");
    let token;
    try {
      token = await freshAccessToken();
    } catch {
      return loggedOut("Your session has expired: please log in again.");
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The token as a subprotocol keeps it out of URLs and access logs.
    const ws = new WebSocket(`${scheme}://${location.host}/ws/`, [`bearer.${token}`]);
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      setState("socket", "open");
      say("socket-status", "online");
      this.beat();
      this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
      this.onOpen();
    };
    ws.onmessage = (event) => this.received(event.data);
    ws.onclose = (event) => this.closed(ws, event);
  }

  failPending() {
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new ApiError(0, { code: "service_unavailable", message: "Disconnected." }));
    }
    this.pending.clear();
  }

  beat() {
    this.request("presence:update", { status: "online" }).catch(() => {});
  }

  received(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const waiting = frame.ref != null && this.pending.get(frame.ref);
    if ((frame.type === "ack" || frame.type === "error") && waiting) {
      this.pending.delete(frame.ref);
      clearTimeout(waiting.timer);
      if (frame.type === "ack") waiting.resolve(frame.data || {});
      else waiting.reject(new ApiError(0, frame.error || {}));
    } else if (frame.type === "error") {
      console.warn("socket error", frame.error);
    } else {
      this.onFrame(frame.type, frame.data || {});
    }
  }

  async closed(ws, event) {
    if (ws !== this.ws) return; // an old socket, already replaced
    clearInterval(this.heartbeat);
    this.ws = null;
    this.failPending();
    setState("socket", "closed");
    say("socket-status", "offline");
    if (this.stopped) return;
    // 4401: the token was refused. Refresh it first (connect does when it is old).
    if (event.code === 4401 && !(await refreshTokens())) {
      return loggedOut("Your session has expired: please log in again.");
    }
    const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts += 1;
    say("socket-status", `offline, retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // Sends a frame with a ref; resolves with the ack's data, rejects with the error.
  request(type, data, { retryRateLimited = true } = {}) {
    return new Promise((resolve, reject) => {
      if (this.ws?.readyState !== WebSocket.OPEN) {
        reject(new ApiError(0, { code: "service_unavailable", message: "Not connected." }));
        return;
      }
      const ref = `c-${++this.seq}`;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new ApiError(0, { code: "service_unavailable", message: "No answer." }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ type, ref, data }));
    }).catch(async (error) => {
      if (error.code !== "rate_limited" || !retryRateLimited) throw error;
      const wait = Number(error.details.retry_after) || 1;
      await new Promise((done) => setTimeout(done, wait * 1000));
      return this.request(type, data, { retryRateLimited: false });
    });
  }
}

// --- Account, balance and hosts -------------------------------------------------------------

let me = null;
let socket = null;
let hostsTimer = null;

function showBalance(balance) {
  const output = $("balance");
  output.textContent = String(balance);
  output.dataset.balance = String(balance);
}

async function loggedIn() {
  me = await api("GET", "me");
  setState("view", "home");
  setState("userId", me.id);
  show("login-view", false);
  show("home-view", true);
  show("account", true);
  say("me-name", me.name);
  const rate = me.role === "host" ? `, ${me.rate_per_minute} coins per minute` : "";
  say("me-info", `You are ${me.name} (${me.role}, id ${me.id}${rate}).`);
  showBalance((await api("GET", "wallet")).balance);
  socket = new Socket(onFrame, onSocketOpen);
  socket.start();
  loadHosts();
}

function loggedOut(message) {
  socket?.stop();
  socket = null;
  clearTimeout(hostsTimer);
  call?.teardown();
  call = null;
  incoming = null;
  session.clear();
  me = null;
  setState("view", "login");
  setState("userId", "");
  setState("call", "idle");
  for (const id of ["home-view", "call-view", "incoming", "account"]) show(id, false);
  show("login-view", true);
  say("login-error", message);
}

async function loadHosts() {
  clearTimeout(hostsTimer);
  if (!me) return;
  try {
    const page = await api("GET", "presence/online?role=host");
    const hosts = page.results.filter((host) => host.id !== me.id);
    const list = $("hosts-list");
    list.replaceChildren(
      ...hosts.map((host) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Call";
        button.setAttribute("aria-label", `Call ${host.name}`);
        button.addEventListener("click", () => placeCall(host.id));
        const rate = host.rate_per_minute ? ` · ${host.rate_per_minute} coins/min` : "";
        item.append(`${host.name} (id ${host.id})${rate} `, button);
        return item;
      }),
    );
    say("hosts-note", hosts.length ? "" : "Nobody is online right now.");
    hostsTimer = setTimeout(loadHosts, HOSTS_REFRESH_MS);
  } catch (error) {
    // This server may not list who is online: calling by id still works.
    say("hosts-note", error.status === 404
      ? "This server does not list who is online: enter a host's id below."
      : `Could not load the hosts: ${error.message}`);
    if (error.status !== 404) hostsTimer = setTimeout(loadHosts, HOSTS_REFRESH_MS);
  }
}

// --- Calls ----------------------------------------------------------------------------------

let call = null; // the call on this device: a Call
let incoming = null; // a ringing invite shown here: the call object

const END_REASONS = {
  hangup: "hung up",
  insufficient_funds: "the caller ran out of coins",
  disconnected: "the connection was lost",
  timeout: "nobody answered",
};
const STATUSES = { rejected: "declined", missed: "missed", failed: "failed" };

function endOf(info) {
  return {
    status: info.status,
    reason: info.end_reason,
    duration_seconds: info.duration_seconds,
    total_coins: info.total_coins,
  };
}

class Call {
  constructor(info, role) {
    this.id = info.id;
    this.info = info;
    this.role = role; // "caller" or "callee"
    this.peer = role === "caller" ? info.callee : info.caller;
    this.pc = null;
    this.stream = null;
    this.queued = []; // signals that came before the peer connection
    this.candidates = []; // candidates that came before the remote description
    this.chain = Promise.resolve(); // signals are handled one at a time, in order
    this.over = false;
    this.timer = null;
    setState("callId", this.id);
    setState("endReason", "");
    setState("pc", "none");
    say("call-title", `Call with ${this.peer.name}`);
    say("remote-label", this.peer.name);
    say("call-warning", "");
    say("call-timer", "");
    show("call-close", false);
    show("hangup", true);
    show("call-view", true);
    show("home-view", false);
  }

  status(state, text) {
    setState("call", state);
    say("call-status", text);
  }

  // After accept: media, the peer connection, and (for the caller) the offer.
  async start() {
    this.status("connecting", "Connecting…");
    const [ice, stream] = await Promise.all([
      api("GET", "calls/ice-servers").catch(() => ({ ice_servers: [] })),
      navigator.mediaDevices.getUserMedia({ audio: true, video: true }).catch((error) => {
        say("call-warning", `No camera or microphone (${error.name}): you will only receive.`);
        return null;
      }),
    ]);
    if (this.over) return stream?.getTracks().forEach((track) => track.stop());
    this.stream = stream;
    const pc = new RTCPeerConnection({ iceServers: ice.ice_servers });
    this.pc = pc;
    if (stream) {
      $("local-video").srcObject = stream;
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.ontrack = (event) => {
      const video = $("remote-video");
      if (video.srcObject !== event.streams[0]) {
        video.srcObject = event.streams[0];
        video.play().catch(() => {});
      }
    };
    pc.onicecandidate = (event) => {
      if (event.candidate) this.signal("candidate", event.candidate.toJSON());
    };
    pc.onconnectionstatechange = () => this.connectionChanged();
    if (this.role === "caller") await this.offer();
    for (const [kind, payload] of this.queued.splice(0)) this.received(kind, payload);
  }

  connectionChanged() {
    const state = this.pc.connectionState;
    setState("pc", state);
    if (this.over) return;
    if (state === "connected") {
      this.status("active", `In a call with ${this.peer.name}`);
      this.startTimer();
    }
    else if (state === "disconnected") this.status("active", "Connection unstable…");
    else if (state === "failed") this.restart();
  }

  startTimer() {
    if (this.timer) return;
    const since = Date.now();
    const tick = () => {
      const seconds = Math.floor((Date.now() - since) / 1000);
      say("call-timer", `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`);
    };
    tick();
    this.timer = setInterval(tick, 1000);
  }

  // ICE restart: the caller makes a new offer; the callee asks the caller for one.
  restart() {
    if (!this.pc || this.over) return;
    this.status("connecting", "Reconnecting…");
    if (this.role === "caller") this.enqueue(() => this.offer({ iceRestart: true }));
    else this.signal("restart");
  }

  async offer(options = {}) {
    const offer = await this.pc.createOffer(options);
    await this.pc.setLocalDescription(offer);
    await this.signal("offer", { type: offer.type, sdp: offer.sdp });
  }

  signal(kind, payload) {
    const data = { call_id: this.id, kind };
    if (payload !== undefined) data.payload = payload;
    return socket.request("call:signal", data).catch((error) => {
      console.warn(`call:signal ${kind}`, error.message);
    });
  }

  received(kind, payload) {
    if (!this.pc) {
      this.queued.push([kind, payload]);
      return;
    }
    this.enqueue(() => this.handle(kind, payload));
  }

  // Runs `step` after every step before it; a failed step does not stop the next ones.
  enqueue(step) {
    this.chain = this.chain.then(step).catch((error) => console.warn("call signaling", error));
  }

  async handle(kind, payload) {
    const pc = this.pc;
    if (this.over) return;
    if (kind === "offer") {
      await pc.setRemoteDescription(payload);
      await this.flushCandidates();
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await this.signal("answer", { type: answer.type, sdp: answer.sdp });
    } else if (kind === "answer") {
      await pc.setRemoteDescription(payload);
      await this.flushCandidates();
    } else if (kind === "candidate") {
      if (pc.remoteDescription) await pc.addIceCandidate(payload);
      else this.candidates.push(payload);
    } else if (kind === "restart" && this.role === "caller") {
      await this.offer({ iceRestart: true });
    }
  }

  async flushCandidates() {
    for (const candidate of this.candidates.splice(0)) {
      await this.pc.addIceCandidate(candidate).catch((error) => console.warn(error));
    }
  }

  async hangUp() {
    try {
      await socket.request("call:end", { call_id: this.id });
    } catch (error) {
      // conflict: it is over already; its call:end push says how.
      if (error.code !== "conflict") say("call-warning", error.message);
    }
  }

  // data: a call:end push (or the same fields taken from a call object).
  ended(data) {
    let why = END_REASONS[data.reason] || STATUSES[data.status] || "ended";
    if (data.reason === "hangup" && data.ended_by != null) {
      why = data.ended_by === me?.id ? "you hung up" : `${this.peer.name} hung up`;
    }
    const paid = data.total_coins ? `, ${data.total_coins} coins` : "";
    const talked = data.duration_seconds ? ` after ${data.duration_seconds} s${paid}` : "";
    setState("endReason", data.reason || data.status || "");
    this.failed(`Call ended: ${why}${talked}.`);
  }

  failed(text) {
    this.teardown();
    this.status("ended", text);
    show("hangup", false);
    show("call-close", true);
    $("call-close").focus();
  }

  teardown() {
    this.over = true;
    clearInterval(this.timer);
    this.stream?.getTracks().forEach((track) => track.stop());
    this.pc?.close();
    $("local-video").srcObject = null;
    $("remote-video").srcObject = null;
    setState("pc", this.pc ? "closed" : "none");
  }
}

async function placeCall(calleeId) {
  if (call && !call.over) return;
  say("notice", "");
  try {
    const { call: info } = await socket.request("call:invite", { callee_id: calleeId });
    call = new Call(info, "caller");
    call.status("calling", `Calling ${info.callee.name}…`);
  } catch (error) {
    say("notice", `Can't call: ${error.message}`);
  }
}

async function answer(accept) {
  const info = incoming;
  if (!info) return;
  stopRinging();
  if (!accept) {
    await socket.request("call:answer", { call_id: info.id, accept: false }).catch(() => {});
    return;
  }
  // Made before the answer goes out, so that early signals for this call are kept.
  call = new Call(info, "callee");
  call.status("connecting", "Answering…");
  let answered;
  try {
    ({ call: answered } = await socket.request("call:answer", { call_id: info.id, accept: true }));
  } catch (error) {
    // conflict: answered on another device, or over already.
    return call.failed(`Could not answer: ${error.message}`);
  }
  if (answered.status !== "active") return call.ended(endOf(answered));
  call.start().catch((error) => say("call-warning", `Media failed: ${error.message}`));
}

function ring(info) {
  incoming = info;
  setState("call", "ringing");
  setState("callId", info.id);
  say("incoming-from", `${info.caller.name} is calling (${info.rate_per_minute} coins per minute).`);
  show("incoming", true);
  document.title = `Call from ${info.caller.name} – Videochat`;
  $("accept").focus();
}

function stopRinging() {
  incoming = null;
  show("incoming", false);
  document.title = "Videochat";
  if (!call || call.over) setState("call", "idle");
}

function closeCallView() {
  call = null;
  setState("call", "idle");
  setState("pc", "none");
  show("call-view", false);
  show("home-view", true);
  loadHosts();
}

function onFrame(type, data) {
  const mine = call && !call.over && data.call_id === call.id;
  switch (type) {
    case "wallet:balance":
      showBalance(data.balance);
      break;
    case "call:invite":
      if ((!call || call.over) && !incoming) ring(data.call);
      break;
    case "call:answer":
      // Answered on another of my devices, or by the callee I am calling.
      if (incoming && data.call_id === incoming.id) stopRinging();
      if (mine && call.role === "caller") {
        if (data.accepted) call.start().catch((error) => say("call-warning", error.message));
        else call.ended({ status: "rejected" });
      }
      break;
    case "call:signal":
      if (mine) call.received(data.kind, data.payload); // else: another device answered
      break;
    case "call:low_balance":
      if (mine) say("call-warning", `Low balance: about ${data.seconds_left} s of call left.`);
      break;
    case "call:end":
      if (incoming && data.call_id === incoming.id) {
        say("notice", `Missed a call from ${incoming.caller.name}.`);
        stopRinging();
      }
      if (mine) call.ended(data);
      break;
    default:
      break; // events of later features
  }
}

// After a reconnect: is the call still on? Then restart ICE over the new socket.
async function onSocketOpen() {
  api("GET", "wallet").then((wallet) => showBalance(wallet.balance)).catch(() => {});
  if (!call || call.over) return;
  try {
    const info = await api("GET", `calls/${call.id}`);
    if (info.status !== "active" && info.status !== "ringing") call.ended(endOf(info));
    else if (call.pc && call.pc.connectionState !== "connected") call.restart();
  } catch (error) {
    console.warn("call check after reconnect", error);
  }
}

// --- Wiring ---------------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("login-error", "");
  const form = event.currentTarget;
  form.querySelector("button").disabled = true;
  try {
    session.save(await api("POST", "auth/token", {
      email: $("login-email").value,
      password: $("login-password").value,
    }, { auth: false }));
    $("login-password").value = "";
    await loggedIn();
  } catch (error) {
    say("login-error", error.message);
  } finally {
    form.querySelector("button").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  const refresh = session.refresh;
  if (refresh) await api("POST", "auth/logout", { refresh }).catch(() => {});
  loggedOut("");
});

$("call-form").addEventListener("submit", (event) => {
  event.preventDefault();
  placeCall(Number($("callee-id").value));
});

$("accept").addEventListener("click", () => answer(true));
$("reject").addEventListener("click", () => answer(false));
$("hangup").addEventListener("click", () => call?.hangUp());
$("call-close").addEventListener("click", closeCallView);

// Hidden tabs get their timers slowed down: beat again as soon as the tab is seen.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && socket?.ws?.readyState === WebSocket.OPEN) {
    socket.beat();
  }
});

// A reload keeps this tab logged in.
if (session.refresh) {
  loggedIn().catch(() => loggedOut(""));
}
