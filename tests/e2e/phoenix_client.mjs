// Drives a pytest-channels server with the official Phoenix JavaScript client, unchanged.
//
// Usage: node phoenix_client.mjs <scenario> <host:port> [json options]
// Prints one JSON object, {"events": [[name, data], ...]}, and exits 0 when the scenario
// finished, or 3 after `timeout_ms` (default 8000) with what happened so far: it never hangs.
import { LongPoll, Socket } from "phoenix";
import WebSocket from "ws";

const [scenarioName, address, rawOptions] = process.argv.slice(2);
const options = JSON.parse(rawOptions || "{}");
const events = [];
const sockets = [];

function record(name, data = null) {
  events.push([name, data]);
}

function finish(code) {
  // Written before disconnecting: the client's own "connection closed" errors are not the scenario's.
  process.stdout.write(JSON.stringify({ events, timeout: code === 3 }) + "\n", () => process.exit(code));
  for (const socket of sockets) socket.disconnect();
}

setTimeout(() => finish(3), options.timeout_ms || 8000);

// Short backoffs keep real-time waits small; everything else is the client's default.
// `options.transport` is "websocket" (the default) or "longpoll".
function connect(path, params = {}, extra = {}) {
  const socket = new Socket(`ws://${address}${path}`, {
    transport: options.transport === "longpoll" ? LongPoll : WebSocket,
    params,
    rejoinAfterMs: () => 50,
    reconnectAfterMs: () => 50,
    ...extra,
  });
  sockets.push(socket);
  socket.connect();
  return socket;
}

// Resolves with [status, response] of a push or join.
function answered(push) {
  return new Promise((resolve) => {
    for (const status of ["ok", "error", "timeout"]) push.receive(status, (response) => resolve([status, response]));
  });
}

function next(channel, event) {
  return new Promise((resolve) => {
    const ref = channel.on(event, (payload) => {
      channel.off(event, ref);
      resolve(payload);
    });
  });
}

const bytes = (buffer) => Array.from(new Uint8Array(buffer));

const scenarios = {
  async connect_params() {
    const socket = connect("/protocol", { user: "ada" });
    const channel = socket.channel("echo:params", { color: "red" });
    record("join", await answered(channel.join()));
  },

  async joins() {
    const socket = connect("/protocol");
    const refused = socket.channel("echo:refused", { refuse: true });
    record("refused", await answered(refused.join()));
    refused.leave(); // a refused join is retried with backoff: stop it
    const accepted = socket.channel("echo:accepted", { hello: "server" });
    record("accepted", await answered(accepted.join()));
    record("state", accepted.state);
  },

  async push_reply() {
    const socket = connect("/protocol");
    const channel = socket.channel("echo:push");
    await answered(channel.join());
    record("reply", await answered(channel.push("echo", { n: 1, list: [1, "two", null] })));
    const pushed = next(channel, "pushed");
    channel.push("push", { from: "server" });
    record("pushed", await pushed);
    record("rtt", await new Promise((resolve) => socket.ping((rtt) => resolve(rtt >= 0))));
  },

  async broadcasts() {
    const a = connect("/protocol").channel("echo:room");
    const b = connect("/protocol").channel("echo:room");
    await Promise.all([answered(a.join()), answered(b.join())]);
    const news = Promise.all([next(a, "news"), next(b, "news")]);
    a.push("broadcast", { event: "news", payload: { n: 1 } });
    record("news", await news);
    const filtered = Promise.all([next(a, "filtered"), next(b, "filtered")]);
    a.push("broadcast", { event: "filtered", payload: { keep: false } });
    a.push("broadcast", { event: "filtered", payload: { keep: true } });
    record("filtered", await filtered); // the first one handle_out dropped never arrives
  },

  async crash_rejoin() {
    const channel = connect("/protocol").channel("echo:crash");
    channel.onError((reason) => record("error", reason));
    let joins = 0;
    await new Promise((resolve) =>
      channel.join().receive("ok", () => {
        record("joined", ++joins);
        if (joins === 1) channel.push("crash", {});
        if (joins === 2) resolve(); // the client rejoined by itself
      }),
    );
    record("after_rejoin", await answered(channel.push("echo", { alive: true })));
  },

  async server_stop() {
    const socket = connect("/protocol");
    const channel = socket.channel("echo:stop");
    await answered(channel.join());
    const closed = new Promise((resolve) => channel.onClose(() => resolve()));
    record("reply", await answered(channel.push("stop", {})));
    await closed;
    record("closed", channel.state);
  },

  async reconnect() {
    const socket = connect("/protocol", { user: "carol" });
    let opens = 0;
    socket.onOpen(() => record("open", ++opens));
    socket.onClose((event) => record("close", { code: event.code, reason: event.reason }));
    const channel = socket.channel("echo:reconnect");
    let joins = 0;
    await new Promise((resolve) =>
      channel.join().receive("ok", () => {
        record("joined", ++joins);
        if (joins === 1) channel.push("disconnect", {}); // the server drops the connection
        if (joins === 2) resolve(); // reconnected, and the channel rejoined by itself
      }),
    );
    record("after_reconnect", await answered(channel.push("echo", { back: true })));
  },

  async binary() {
    const socket = connect("/protocol");
    const channel = socket.channel("echo:binary");
    await answered(channel.join());
    if (options.transport === "longpoll") {
      // LongPoll carries client bytes in base64, and no bytes from the server (Phoenix's neither).
      record("reply", await answered(channel.push("binary_as_json", new Uint8Array([1, 2, 3]).buffer)));
      const crashed = new Promise((resolve) => channel.onError((reason) => resolve(reason)));
      channel.push("push_binary", {});
      record("pushed", await crashed);
      return;
    }
    const [status, response] = await answered(channel.push("binary", new Uint8Array([1, 2, 3]).buffer));
    record("reply", [status, bytes(response)]);
    const raw = next(channel, "raw");
    channel.push("push_binary", {});
    record("pushed", bytes(await raw));
  },

  async ping() {
    const channel = connect("/socket").channel("ping");
    await answered(channel.join());
    record("reply", await answered(channel.push("ping", {})));
  },

  async wildcard() {
    const socket = connect("/socket");
    for (const topic of ["wild:2:4", "wild:2:5", "wild:a:b"]) {
      const channel = socket.channel(topic);
      record(topic, await answered(channel.join()));
      if (channel.state !== "joined") channel.leave();
    }
    const channel = socket.channel("wild:1:2");
    await answered(channel.join());
    record("reply", await answered(channel.push("ping", {})));
  },

  async dedupe() {
    const dupe = connect("/socket").channel("dupe");
    const control = connect("/protocol").channel("echo:control");
    await Promise.all([answered(dupe.join()), answered(control.join())]);
    const numbers = [];
    const three = new Promise((resolve) =>
      dupe.on("number", (payload) => {
        numbers.push(payload.value);
        if (numbers.length === 3) resolve();
      }),
    );
    for (const number of [1, 2, 1, 3, 2]) {
      control.push("broadcast_to", { topic: "dupe", event: "number", payload: { number } });
    }
    await three;
    record("numbers", numbers);
  },

  async recurring() {
    const channel = connect("/auth_socket", { token: options.token }).channel("recurring");
    await answered(channel.join());
    const tokens = [];
    await new Promise((resolve) =>
      channel.on("new_token", (payload) => {
        tokens.push(payload.token);
        if (tokens.length === 2) resolve();
      }),
    );
    record("tokens", tokens);
  },

  async drain() {
    // The operator drains the server: the client is closed, reconnects and rejoins by itself.
    const socket = connect("/protocol", { user: "drained" });
    socket.onClose((event) => record("close", { code: event.code, reason: event.reason }));
    const channel = socket.channel("echo:drain");
    let joins = 0;
    await new Promise((resolve) =>
      channel.join().receive("ok", () => {
        record("joined", ++joins);
        if (joins === 1) fetch(`http://${address}/drain`, { method: "POST" }).then((r) => r.text()).then((n) => record("drained", n));
        if (joins === 2) resolve();
      }),
    );
    record("after_drain", await answered(channel.push("echo", { back: true })));
  },

  async fallback() {
    // The WebSocket upgrade is refused (as by a proxy): phoenix.js falls back to LongPoll by itself.
    const socket = connect("/protocol", {}, { longPollFallbackMs: 200 });
    const channel = socket.channel("echo:fallback");
    record("join", await answered(channel.join()));
    record("reply", await answered(channel.push("echo", { over: "longpoll" })));
    record("transport", socket.transport === LongPoll ? "longpoll" : "websocket");
  },

  async auth_refused() {
    const socket = connect("/auth_socket", { token: "nonsense" }, { reconnectAfterMs: () => 60000 });
    await new Promise((resolve) => socket.onError(() => resolve()));
    record("error", socket.isConnected());
  },
};

const scenario = scenarios[scenarioName];
if (!scenario) {
  process.stderr.write(`unknown scenario ${scenarioName}; known: ${Object.keys(scenarios).join(", ")}\n`);
  process.exit(2);
}
scenario().then(
  () => finish(0),
  (error) => {
    record("exception", String(error && error.stack ? error.stack : error));
    finish(1);
  },
);
