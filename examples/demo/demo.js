// The demo page's client: the official phoenix.js (window.Phoenix), unchanged.
const show = (id, text) => {
  document.getElementById(id).textContent = text;
};

// Where a proxy refuses WebSockets, phoenix.js falls back to LongPoll by itself.
const userSocket = new Phoenix.Socket("/socket", { longPollFallbackMs: 2500 });
userSocket.onOpen(() => {
  show("socket", "connected");
  show("transport", userSocket.transport === Phoenix.LongPoll ? "longpoll" : "websocket");
});
userSocket.onError(() => show("socket", "error"));
userSocket.connect();

const ping = userSocket.channel("ping");
ping.join().receive("ok", () => {
  ping.push("ping", {}).receive("ok", (reply) => show("ping", reply.ping));
});

const numbers = [];
const dupe = userSocket.channel("dupe");
dupe.on("number", ({ value }) => {
  numbers.push(value);
  show("dupe", numbers.join(", "));
});
dupe.join().receive("ok", () => fetch("/dupe?numbers=1,2,1,3,2", { method: "POST" }));

// A real application renders the token into the page; the demo asks its stand-in for one.
fetch("/token?user_id=1", { method: "POST" })
  .then((response) => response.json())
  .then(({ token }) => {
    const authSocket = new Phoenix.Socket("/auth_socket", { params: { token }, longPollFallbackMs: 2500 });
    authSocket.connect();
    let count = 0;
    const recurring = authSocket.channel("recurring");
    recurring.on("new_token", ({ token: fresh }) => {
      show("tokens", String(++count));
      show("last-token", fresh);
    });
    recurring.join();
  });

// Who is online: the rooms application's presence, synced by the official client's Presence.
const user = new URLSearchParams(window.location.search).get("user") || "visitor";
const roomSocket = new Phoenix.Socket("/rooms", { params: { user } });
roomSocket.connect();
const room = roomSocket.channel("room:demo", { device: "browser" });
const presence = new Phoenix.Presence(room);
presence.onSync(() => {
  const names = presence.list((key, { name, metas }) => `${name} (${metas.length})`).sort();
  show("online", names.join(", ") || "nobody");
});
room.join();
