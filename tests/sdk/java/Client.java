// Gets one token the way a Java service does and prints the outcome as one JSON line (fields: ../README.md).
// Usage: java -cp 'target/classes:target/lib/*' Client <mode> <resource> [client id]
//   mi        com.azure.identity.ManagedIdentityCredential (system default, or the client ID given)
//   default   com.azure.identity.DefaultAzureCredential (configured by the environment only)
//   workload  com.azure.identity.WorkloadIdentityCredential, straight to Entra ID (the benchmark's reference)
import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenCredential;
import com.azure.core.credential.TokenRequestContext;
import com.azure.identity.DefaultAzureCredentialBuilder;
import com.azure.identity.ManagedIdentityCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.azure.json.JsonProviders;
import com.azure.json.JsonReader;
import com.azure.json.JsonWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class Client {
  // Bounded: the SDKs' own IMDS retries could otherwise wait for minutes.
  private static final Duration BUDGET = Duration.ofSeconds(90);

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: Client mi|default|workload <resource> [client id]");
      System.exit(2);
    }
    String mode = args[0];
    String resource = args[1];
    String clientId = args.length > 2 ? args[2] : null;
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("ok", false);
    result.put("client", "java-" + mode);
    result.put("library", "com.azure:azure-identity");
    result.put("version", ManagedIdentityCredentialBuilder.class.getPackage().getImplementationVersion());
    long start = System.nanoTime();
    try {
      AccessToken token = credential(mode, clientId)
          .getToken(new TokenRequestContext().addScopes(resource.replaceAll("/+$", "") + "/.default"))
          .block(BUDGET);
      result.put("ok", true);
      result.put("token_sha256", HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-256").digest(token.getToken().getBytes(StandardCharsets.UTF_8))));
      result.put("claims", claims(token.getToken()));
      result.put("expires_on", token.getExpiresAt().toEpochSecond());
    } catch (RuntimeException e) {  // the outcome is the test's data, whatever it is
      // The whole cause chain, as a stack trace in the service's log shows it: the SDK wraps the endpoint's answer.
      StringBuilder error = new StringBuilder(String.valueOf(e.getMessage()));
      for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
        error.append(" | caused by ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
      }
      result.put("error", error.toString());
      result.put("error_type", e.getClass().getSimpleName());
    }
    result.put("ms", (System.nanoTime() - start) / 1e6);
    StringWriter out = new StringWriter();
    try (JsonWriter w = JsonProviders.createWriter(out)) {
      w.writeMap(result, (writer, value) -> writer.writeUntyped(value));
    }
    System.out.println(out);
    System.out.flush();
    // The SDK's reactor threads would keep the JVM alive for a while.
    Runtime.getRuntime().halt(Boolean.TRUE.equals(result.get("ok")) ? 0 : 1);
  }

  static TokenCredential credential(String mode, String clientId) {
    switch (mode) {
      case "mi": {
        ManagedIdentityCredentialBuilder b = new ManagedIdentityCredentialBuilder();
        return (clientId == null ? b : b.clientId(clientId)).build();
      }
      case "default":
        return new DefaultAzureCredentialBuilder().build();
      case "workload":
        // The emulator is no public cloud: no instance discovery (a reference point, not a path under test).
        return new WorkloadIdentityCredentialBuilder().disableInstanceDiscovery().build();
      default:
        System.err.println("Client: unknown mode " + mode);
        System.exit(2);
        return null;
    }
  }

  static Map<String, Object> claims(String token) throws Exception {
    String[] parts = token.split("\\.");
    Map<String, Object> out = new LinkedHashMap<>();
    if (parts.length != 3) return out;
    try (JsonReader r = JsonProviders.createReader(Base64.getUrlDecoder().decode(parts[1]))) {
      Map<String, Object> all = r.readMap(JsonReader::readUntyped);
      for (String k : List.of("aud", "appid", "tid", "iss", "exp")) {
        if (all.containsKey(k)) out.put(k, all.get(k));
      }
    }
    return out;
  }
}
