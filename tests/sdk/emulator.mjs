// Test helpers for driving azwi-emulator from Node: start it, mint service-account tokens, read its control API,
// and a "guard" proxy that records (and refuses) any attempt to reach a host that is not on this machine.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const bin = process.env.AZWI_EMULATOR_BIN;
if (!bin) throw new Error("AZWI_EMULATOR_BIN must name the azwi-emulator binary");

export async function startEmulator(args = []) {
  const dir = mkdtempSync(join(tmpdir(), "azwi-sdk-"));
  const state = join(dir, "state");
  const ready = join(dir, "ready");
  const log = join(dir, "emulator.log");
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--ready-file", ready,
                            "--log-format", "text", ...args],
                      { stdio: ["ignore", openSync(log, "w"), openSync(log, "a")] });
  for (let i = 0; i < 150 && !(existsSync(ready) && readFileSync(ready, "utf8")); i++) await sleep(100);
  if (!existsSync(ready)) {
    child.kill("SIGKILL");
    throw new Error("emulator did not start:\n" + readFileSync(log, "utf8"));
  }
  const url = readFileSync(ready, "utf8");
  const ca = readFileSync(join(state, "ca.crt"));
  return {
    dir, state, url, ca, caFile: join(state, "ca.crt"),
    log: () => readFileSync(log, "utf8"),
    mint(extra = []) {
      const out = join(dir, `token-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      execFileSync(bin, ["mint-token", "--state-dir", state, "--out", out, ...extra], { stdio: "ignore" });
      return out;
    },
    control(method, path, body) {
      return new Promise((resolve, reject) => {
        const req = request(url + path, { method, ca, headers: { "content-type": "application/json" } }, (res) => {
          let data = "";
          res.on("data", (c) => (data += c));
          res.on("end", () => resolve({ status: res.statusCode, json: data ? JSON.parse(data) : null }));
        });
        req.on("error", reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// An HTTP proxy on 127.0.0.1 that answers every request and CONNECT with 403, remembering the targets: point
// HTTPS_PROXY/HTTP_PROXY at it so that a client that tries to leave the machine is caught instead of reaching out.
export async function startGuardProxy() {
  const attempts = [];
  const server = createServer((req, res) => {
    attempts.push(req.url);
    res.writeHead(403).end();
  });
  server.on("connect", (req, socket) => {
    attempts.push(req.url);
    socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    attempts,
    close: () => new Promise((r) => server.close(r)),
  };
}

export function decodeJwt(token) {
  const [h, p] = token.split(".");
  const dec = (s) => JSON.parse(Buffer.from(s, "base64url").toString("utf8"));
  return { header: dec(h), claims: dec(p) };
}
