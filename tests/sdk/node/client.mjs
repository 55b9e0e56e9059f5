// Gets one token the way a Node.js service does and prints the outcome as one JSON line (fields: ../README.md).
// Usage: node client.mjs <mode> <resource> [client id]
//   mi        ManagedIdentityCredential (system default, or the client ID given)
//   default   DefaultAzureCredential (configured by the environment only)
//   workload  WorkloadIdentityCredential, straight to Entra ID (the benchmark's reference)
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from "@azure/identity";

const [mode, resource, clientId] = process.argv.slice(2);
if (!mode || !resource) {
  console.error("usage: client.mjs mi|default|workload <resource> [client id]");
  process.exit(2);
}
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(require.resolve("@azure/identity/package.json"), "utf8"));
const result = { ok: false, client: `node-${mode}`, library: "@azure/identity", version: pkg.version };

function credential() {
  switch (mode) {
    case "mi": return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
    case "default": return new DefaultAzureCredential();
    // The emulator is no public cloud: no instance discovery (a reference point, not a path under test).
    case "workload": return new WorkloadIdentityCredential({ disableInstanceDiscovery: true });
    default: console.error(`client.mjs: unknown mode ${mode}`); process.exit(2);
  }
}

function claims(token) {
  try {
    const all = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
    return Object.fromEntries(["aud", "appid", "tid", "iss", "exp"].filter((k) => k in all).map((k) => [k, all[k]]));
  } catch {
    return null;
  }
}

const cred = credential();
const start = performance.now();
try {
  // Bounded: the SDK's own IMDS retries could otherwise wait for minutes.
  const token = await cred.getToken(`${resource.replace(/\/+$/, "")}/.default`, { abortSignal: AbortSignal.timeout(90000) });
  Object.assign(result, { ok: true, token_sha256: createHash("sha256").update(token.token).digest("hex"),
                          claims: claims(token.token), expires_on: Math.floor(token.expiresOnTimestamp / 1000) });
} catch (e) {
  Object.assign(result, { error: String(e.message), error_type: e.name });
}
result.ms = Math.round((performance.now() - start) * 1000) / 1000;
console.log(JSON.stringify(result));
process.exitCode = result.ok ? 0 : 1;
