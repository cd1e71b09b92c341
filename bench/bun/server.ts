// The bench app of shared/bench-app.md on Bun's native WebSocket server, using its built-in
// pub/sub: every client subscribes to one topic for broadcasts and to one topic per room it joins.
// Run: `PORT=3002 node_modules/.bin/bun server.ts`.

type Frame = { type?: unknown; payload?: unknown; rpcId?: unknown };
type Shout = { ts: number; data: string };

const ALL = "all";
const port = Number(process.env.PORT ?? 3000);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function shout(ts: unknown, data: unknown): Shout | null {
  return typeof ts === "number" && typeof data === "string" ? { ts, data } : null;
}

function shouted(s: Shout): string {
  return JSON.stringify({ type: "bench.shouted", payload: { ts: s.ts, data: s.data } });
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, server) {
    if (new URL(req.url).pathname === "/" && server.upgrade(req)) return;
    return new Response("expected a WebSocket upgrade at /", { status: 426 });
  },
  websocket: {
    open(ws) {
      ws.subscribe(ALL);
    },
    message(ws, raw) {
      let frame: Frame;
      try {
        frame = JSON.parse(typeof raw === "string" ? raw : raw.toString());
      } catch {
        frame = {};
      }
      const rpcId = isObject(frame) && typeof frame.rpcId === "string" ? frame.rpcId : undefined;
      const reply = (payload: unknown) => {
        if (rpcId !== undefined) ws.send(JSON.stringify({ type: "__rpc_res", payload, rpcId }));
      };
      const fail = (code: string, message: string) => {
        const payload = { code, message };
        ws.send(
          JSON.stringify(rpcId !== undefined ? { type: "__rpc_err", payload, rpcId } : { type: "__error", payload }),
        );
      };
      if (!isObject(frame) || typeof frame.type !== "string") return fail("BAD_REQUEST", "invalid message");
      const p = frame.payload;
      switch (frame.type) {
        case "bench.echo": {
          if (!isObject(p) || !Number.isInteger(p.seq) || typeof p.data !== "string")
            return fail("INVALID_INPUT", "expected {seq: integer, data: string}");
          return reply(p);
        }
        case "bench.shout": {
          const s = isObject(p) ? shout(p.ts, p.data) : null;
          if (!s) return fail("INVALID_INPUT", "expected {ts: number, data: string}");
          // server.publish reaches every subscriber, the sender included (ws.publish would skip it).
          server.publish(ALL, shouted(s));
          return reply(null);
        }
        case "bench.join": {
          if (!isObject(p) || typeof p.room !== "string") return fail("INVALID_INPUT", "expected {room: string}");
          ws.subscribe("room:" + p.room);
          return reply(true);
        }
        case "bench.roomShout": {
          const s = isObject(p) ? shout(p.ts, p.data) : null;
          if (!s || typeof p.room !== "string")
            return fail("INVALID_INPUT", "expected {room: string, ts: number, data: string}");
          server.publish("room:" + p.room, shouted(s));
          return reply(null);
        }
        default:
          return fail("NOT_FOUND", `unknown route ${frame.type}`);
      }
    },
  },
});

console.log(`listening on ws://127.0.0.1:${server.port}`);
