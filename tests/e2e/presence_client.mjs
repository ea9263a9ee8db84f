// Drives the rooms application with the official Phoenix JavaScript client's Socket and Presence, unchanged.
//
// Usage: node presence_client.mjs <scenario> <host:port>
// Prints one JSON object, {"events": [[name, data], ...]}, and exits 0 when the scenario
// finished, or 3 after 8 s with what happened so far: it never hangs.
import { Presence, Socket } from "phoenix";
import WebSocket from "ws";

const [scenarioName, address] = process.argv.slice(2);
const events = [];
const sockets = [];

function record(name, data = null) {
  events.push([name, data]);
}

function finish(code) {
  process.stdout.write(JSON.stringify({ events, timeout: code === 3 }) + "\n", () => process.exit(code));
  for (const socket of sockets) socket.disconnect();
}

setTimeout(() => finish(3), 8000);

// A user's page: a socket, the lobby channel, and the client's own Presence, made before joining.
function enter(user) {
  const socket = new Socket(`ws://${address}/rooms`, {
    transport: WebSocket,
    params: { user },
    rejoinAfterMs: () => 50,
    reconnectAfterMs: () => 50,
  });
  sockets.push(socket);
  socket.connect();
  const channel = socket.channel("room:e2e", { device: "node" });
  const presence = new Presence(channel);
  const page = { user, socket, channel, presence, changes: [], waiting: [] };
  presence.onJoin((key, current, joined) => page.changes.push(["join", key, joined.metas.length]));
  presence.onLeave((key, current, left) => page.changes.push(["leave", key, left.metas.length]));
  presence.onSync(() => {
    for (const waiter of [...page.waiting]) waiter();
  });
  channel.join();
  return page;
}

const online = (page) => page.presence.list((key) => key).sort();

// Resolves once the page's synced list is exactly `users`.
function until(page, users) {
  const wanted = JSON.stringify([...users].sort());
  return new Promise((resolve) => {
    const check = () => {
      if (JSON.stringify(online(page)) === wanted) {
        page.waiting = page.waiting.filter((waiter) => waiter !== check);
        resolve(online(page));
      }
    };
    page.waiting.push(check);
    check();
  });
}

const scenarios = {
  async join_and_leave() {
    const ada = enter("ada");
    await until(ada, ["ada"]);
    const grace = enter("grace");
    record("ada sees", await until(ada, ["ada", "grace"]));
    record("grace sees", await until(grace, ["ada", "grace"]));
    record("names", ada.presence.list((key, presence) => presence.name).sort());
    grace.channel.leave();
    record("after leave", await until(ada, ["ada"]));
    record("changes", ada.changes);
  },

  async crash_is_a_leave() {
    const ada = enter("ada");
    const grace = enter("grace");
    await until(ada, ["ada", "grace"]);
    ada.changes.length = 0;
    grace.channel.push("crash", {});
    record("after crash", await until(ada, ["ada"]));
    record("after rejoin", await until(ada, ["ada", "grace"]));
    record("changes", ada.changes);
  },

  async reconnect_resyncs() {
    const ada = enter("ada");
    await until(ada, ["ada"]); // ada's list holds ada first: the order her syncState walks it in
    const grace = enter("grace");
    await until(ada, ["ada", "grace"]);
    ada.socket.disconnect();
    // The server ends her channel when it sees the socket close: wait for that, or her
    // reconnect's presence_state could still list the old channel, by the luck of scheduling.
    await until(grace, ["grace"]);
    await new Promise((resolve) => grace.channel.leave().receive("ok", resolve));
    record("while away", online(ada)); // stale: nobody could tell her that grace left
    ada.socket.connect();
    record("after reconnect", await until(ada, ["ada"]));
    record("changes", ada.changes);
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
