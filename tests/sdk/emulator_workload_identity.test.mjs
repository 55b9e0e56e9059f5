// @azure/identity (npm, Node 20) — a client nobody here wrote — gets tokens from azwi-emulator over HTTPS with
// AZURE_AUTHORITY_HOST pointing at it. A guard proxy in HTTPS_PROXY catches any attempt to leave the machine.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { startEmulator, startGuardProxy, decodeJwt } from "./emulator.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const clientId = "5a4f1d0e-3c2b-4a1f-9e8d-7c6b5a4f3e2d";
let emu, guard;

before(async () => {
  emu = await startEmulator(["--tenant-id", tenant, "--client-id", clientId, "--token-lifetime", "3600"]);
  guard = await startGuardProxy();
});

after(async () => {
  await emu?.stop();
  await guard?.close();
});

// Runs the client app in its own Node process, configured only through the environment.
function getToken({ tokenFile, client = clientId, kind = "workload", disableInstanceDiscovery = true,
                    scope = "https://vault.azure.net/.default" }) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? "/tmp",
    AZURE_AUTHORITY_HOST: emu.url,
    AZURE_TENANT_ID: tenant,
    AZURE_CLIENT_ID: client,
    AZURE_FEDERATED_TOKEN_FILE: tokenFile,
    NODE_EXTRA_CA_CERTS: emu.caFile,
    HTTPS_PROXY: guard.url,
    HTTP_PROXY: guard.url,
    NO_PROXY: "127.0.0.1,localhost",
    TEST_DISABLE_INSTANCE_DISCOVERY: disableInstanceDiscovery ? "1" : "0",
  };
  return new Promise((resolve) => {
    execFile(process.env.AZWI_NODE ?? process.execPath, [join(here, "get_token.mjs"), kind, scope],
             { env, cwd: here, timeout: 120_000 }, (error, stdout, stderr) => {
      const line = stdout.trim().split("\n").pop() || "{}";
      let result;
      try { result = JSON.parse(line); } catch { result = { ok: false, message: `no JSON: ${stdout} ${stderr}` }; }
      resolve({ ...result, stderr });
    });
  });
}

async function resetCounters() {
  assert.equal((await emu.control("DELETE", "_emulator/requests")).status, 204);
  assert.equal((await emu.control("DELETE", "_emulator/faults")).status, 200);
}

test("WorkloadIdentityCredential exchanges the projected token for an access token", async () => {
  await resetCounters();
  const tokenFile = emu.mint(["--pod-name", "sdk-test"]);
  const r = await getToken({ tokenFile });
  assert.equal(r.ok, true, r.message + r.stderr);
  assert.equal(r.cached, true, "the second getToken is served from MSAL's cache");
  const { claims } = decodeJwt(r.token);
  assert.equal(claims.aud, "https://vault.azure.net");
  assert.equal(claims.appid, clientId);
  assert.equal(claims.azp, clientId);
  assert.equal(claims.tid, tenant);
  assert.equal(claims.iss, `${emu.url}${tenant}/v2.0`);
  assert.ok(Math.abs(r.expiresOnTimestamp - claims.exp * 1000) < 5000, "expiresOnTimestamp follows expires_in");

  const stats = (await emu.control("GET", "_emulator/stats")).json;
  assert.deepEqual([stats.token_requests, stats.tokens_issued, stats.token_errors], [1, 1, 0]);
  const [entry] = (await emu.control("GET", "_emulator/requests")).json;
  assert.equal(entry.form.client_id, clientId);
  assert.equal(entry.form.scope, "https://vault.azure.net/.default");
  assert.equal(entry.form.grant_type, "client_credentials");
  assert.equal(entry.form.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  const assertion = readFileSync(tokenFile, "utf8");
  assert.equal(entry.form.client_assertion_sha256, createHash("sha256").update(assertion).digest("hex"));
  // MSAL read the tenant's discovery document from the emulator before the token request.
  assert.match(emu.log(), new RegExp(`path=/${tenant}/v2.0/.well-known/openid-configuration status=200`));
  assert.deepEqual(guard.attempts, [], "nothing tried to leave the machine");
});

test("DefaultAzureCredential picks workload identity from the environment", async () => {
  await resetCounters();
  const r = await getToken({ tokenFile: emu.mint(), kind: "default", scope: "https://management.azure.com//.default" });
  assert.equal(r.ok, true, r.message + r.stderr);
  assert.equal(decodeJwt(r.token).claims.aud, "https://management.azure.com/");
  assert.equal((await emu.control("GET", "_emulator/stats")).json.tokens_issued, 1);
  assert.deepEqual(guard.attempts, []);
});

// MSAL Node sends instance discovery to the hard-coded public cloud (login.microsoftonline.com) for any authority
// host it does not know, and gives up when that fails: an isolated setup needs disableInstanceDiscovery: true.
test("with instance discovery left on, MSAL first asks the public cloud and fails when it is unreachable", async () => {
  await resetCounters();
  const before = guard.attempts.length;
  const r = await getToken({ tokenFile: emu.mint(), disableInstanceDiscovery: false });
  const tried = guard.attempts.slice(before);
  assert.ok(tried.length >= 1, "MSAL tried to reach the public cloud");
  assert.ok(tried.every((t) => t === "login.microsoftonline.com:443"), JSON.stringify(tried));
  assert.equal(r.ok, false);
  assert.match(r.message, /endpoints_resolution_error/);
  assert.equal((await emu.control("GET", "_emulator/stats")).json.token_requests, 0);
});

test("an unknown client ID fails with AADSTS700016 in the SDK's error", async () => {
  await resetCounters();
  const r = await getToken({ tokenFile: emu.mint(), client: "00000000-0000-0000-0000-00000000dead" });
  assert.equal(r.ok, false);
  assert.match(r.message, /AADSTS700016/);
  assert.equal((await emu.control("GET", "_emulator/stats")).json.token_errors >= 1, true);
});

test("a subject without a federated credential fails with AADSTS700213", async () => {
  await resetCounters();
  const r = await getToken({ tokenFile: emu.mint(["--service-account", "someone-else"]) });
  assert.equal(r.ok, false);
  assert.match(r.message, /AADSTS700213/);
});

test("the SDK retries a transient 503 and then gets its token", async () => {
  await resetCounters();
  const put = await emu.control("PUT", "_emulator/faults", { fail_next: 1, fail_status: 503, retry_after: 1 });
  assert.equal(put.status, 200);
  const r = await getToken({ tokenFile: emu.mint() });
  assert.equal(r.ok, true, r.message + r.stderr);
  const stats = (await emu.control("GET", "_emulator/stats")).json;
  assert.equal(stats.tokens_issued, 1);
  assert.equal(stats.token_errors, 1);
  assert.equal(stats.token_requests, 2);
});
