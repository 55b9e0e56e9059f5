// @azure/identity's ManagedIdentityCredential (npm, Node 20), unmodified, against a real azwi-proxy in
// identity-endpoint mode: told only IDENTITY_ENDPOINT and IDENTITY_HEADER, as the webhook tells a pod, it speaks the
// App Service protocol to the sidecar, which exchanges the pod's token with azwi-emulator. A wrong secret fails.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startEmulator, startGuardProxy, decodeJwt } from "./emulator.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const clientId = "5a4f1d0e-3c2b-4a1f-9e8d-7c6b5a4f3e2d";
const secret = randomBytes(32).toString("base64url");
const proxyBin = process.env.AZWI_PROXY_BIN;
let emu, guard, proxy, port, proxyLog = "";

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

before(async () => {
  assert.ok(proxyBin, "AZWI_PROXY_BIN must name the azwi-proxy binary");
  emu = await startEmulator(["--tenant-id", tenant, "--client-id", clientId, "--token-lifetime", "3600"]);
  guard = await startGuardProxy();
  port = await freePort();
  proxy = spawn(proxyBin, [`--proxy-port=${port}`, "--imds-endpoint=http://127.0.0.1:1"], {
    env: { PATH: process.env.PATH, AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId,
           AZURE_FEDERATED_TOKEN_FILE: emu.mint(), AZURE_AUTHORITY_HOST: emu.url, SSL_CERT_FILE: emu.caFile,
           IDENTITY_HEADER: secret },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const s of [proxy.stdout, proxy.stderr]) s.on("data", (d) => (proxyLog += d));
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return;
    } catch {}
    await sleep(100);
  }
  throw new Error("azwi-proxy did not start:\n" + proxyLog);
});

after(async () => {
  proxy?.kill("SIGTERM");
  await emu?.stop();
  await guard?.close();
});

function managedIdentityToken(header) {
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME ?? "/tmp",
    IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: header,
    HTTPS_PROXY: guard.url, HTTP_PROXY: guard.url, NO_PROXY: "127.0.0.1,localhost",
  };
  return new Promise((resolve) => {
    execFile(process.env.AZWI_NODE ?? process.execPath,
             [join(here, "managed_identity_token.mjs"), clientId, "https://vault.azure.net/.default"],
             { env, cwd: here, timeout: 120_000 }, (error, stdout, stderr) => {
      const line = stdout.trim().split("\n").pop() || "{}";
      try { resolve({ ...JSON.parse(line), stderr }); } catch { resolve({ ok: false, message: stdout + stderr }); }
    });
  });
}

test("ManagedIdentityCredential gets a token from the sidecar's App Service endpoint", async () => {
  const r = await managedIdentityToken(secret);
  assert.equal(r.ok, true, `${r.name}: ${r.message}\n${r.stderr}\nproxy:\n${proxyLog}`);
  const { claims } = decodeJwt(r.token);
  assert.equal(claims.aud, "https://vault.azure.net");
  assert.equal(claims.appid, clientId);
  assert.equal(claims.tid, tenant);
  assert.ok(Math.abs(r.expiresOnTimestamp - claims.exp * 1000) < 5000, "expiresOnTimestamp follows the answer");
  assert.match(proxyLog, /"uri":"\/msi\/token\?[^"]*api-version=2019-08-01/);
  assert.deepEqual(guard.attempts, [], "nothing tried to leave the machine");
});

test("with a wrong IDENTITY_HEADER the sidecar refuses and the SDK reports it", async () => {
  const r = await managedIdentityToken("wrong-" + secret.slice(6));
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.match(r.message, /X-IDENTITY-HEADER|401/, r.message);
  assert.ok(!proxyLog.includes(secret), "the secret reached the proxy's log");
});
