// The application in the e2e pod: @azure/identity's ManagedIdentityCredential exactly as an app written for a VM's
// or pod-managed identity uses it, with a client ID and nothing else, so it asks IMDS at 169.254.169.254 itself.
// Usage: node managed_identity_token.mjs <client id> <scope>. Prints one JSON line with the outcome.
import { ManagedIdentityCredential } from "@azure/identity";

const [clientId, scope] = process.argv.slice(2);
if (!clientId || !scope) {
  console.log(JSON.stringify({ ok: false, name: "Usage", message: "usage: managed_identity_token.mjs <client id> <scope>" }));
  process.exit(2);
}
const credential = new ManagedIdentityCredential({ clientId });
try {
  // Bounded: the SDK's own IMDS retries could otherwise wait for minutes.
  const token = await credential.getToken(scope, { abortSignal: AbortSignal.timeout(30000) });
  console.log(JSON.stringify({ ok: true, token: token.token, expiresOnTimestamp: token.expiresOnTimestamp }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, message: String(e.message) }));
  process.exitCode = 1;
}
