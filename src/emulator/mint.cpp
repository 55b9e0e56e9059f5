#include "emulator/mint.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <algorithm>
#include <thread>

#include "emulator/files.hpp"
#include "jwt/digest.hpp"
#include "jwt/jws.hpp"

namespace azwi::emulator {
namespace json = boost::json;

MintedToken mint_service_account_token(KeyRing& keys, const MintOptions& o, std::int64_t now) {
  std::int64_t iat = now + o.time_offset;
  std::int64_t exp = iat + o.lifetime;
  json::object k8s;
  k8s["namespace"] = o.namespace_name;
  json::object sa;
  sa["name"] = o.service_account;
  sa["uid"] = jwt::random_uuid();
  k8s["serviceaccount"] = std::move(sa);
  if (!o.pod_name.empty()) {
    json::object pod;
    pod["name"] = o.pod_name;
    pod["uid"] = jwt::random_uuid();
    k8s["pod"] = std::move(pod);
  }
  json::object c;
  c["aud"] = json::array{json::string(o.audience)};
  c["exp"] = exp;
  c["iat"] = iat;
  c["iss"] = o.issuer;
  c["jti"] = jwt::random_uuid();
  c["kubernetes.io"] = std::move(k8s);
  c["nbf"] = iat;
  c["sub"] = "system:serviceaccount:" + o.namespace_name + ":" + o.service_account;
  jwt::Key key = keys.signing_key(o.alg, exp, now);
  return MintedToken{jwt::sign(key, c), iat, exp, key.kid()};
}

void keep_token_fresh(KeyRing& keys, const MintOptions& o, const std::filesystem::path& path, Clock& clock,
                      const std::atomic<bool>& stop, const std::function<void(const MintedToken&)>& on_write) {
  while (!stop.load()) {
    auto now = clock.now();
    MintedToken t = mint_service_account_token(keys, o, unix_seconds(now));
    write_file_atomically(path, t.token, 0644);
    if (on_write) on_write(t);
    // The kubelet refreshes once 80% of the lifetime has passed; sleep in short steps to notice stop quickly.
    auto refresh_at = now + std::chrono::milliseconds(o.lifetime * 800);
    while (!stop.load() && clock.now() < refresh_at)
      clock.sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(100), refresh_at - clock.now()));
  }
}

}  // namespace azwi::emulator
