// The application under test: a plain @azure/identity client configured only through the environment, as the
// workload identity webhook configures a pod (AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_FEDERATED_TOKEN_FILE). Prints one JSON line with the outcome.
import { DefaultAzureCredential, WorkloadIdentityCredential } from "@azure/identity";

const [kind = "workload", scope = "https://vault.azure.net/.default"] = process.argv.slice(2);
const options = process.env.TEST_DISABLE_INSTANCE_DISCOVERY === "1" ? { disableInstanceDiscovery: true } : {};
const credential = kind === "default" ? new DefaultAzureCredential(options) : new WorkloadIdentityCredential(options);
try {
  const first = await credential.getToken(scope);
  const second = await credential.getToken(scope);
  console.log(JSON.stringify({ ok: true, token: first.token, expiresOnTimestamp: first.expiresOnTimestamp,
                               cached: first.token === second.token }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, message: String(e.message) }));
  process.exitCode = 1;
}
