#include "emulator/keyring.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "emulator/files.hpp"
#include "jwt/jws.hpp"

namespace azwi::emulator {
namespace fs = std::filesystem;

namespace {
RingKey new_key(jwt::Alg alg, std::int64_t now) { return RingKey{jwt::Key::generate(alg), now, std::nullopt, 0}; }
}  // namespace

KeyRing::KeyRing(fs::path file, std::int64_t exp_slack)
    : file_(std::move(file)), lock_file_(file_.string() + ".lock"), exp_slack_(exp_slack) {}

std::vector<RingKey> KeyRing::load_locked() {
  auto stamp = file_stamp(file_);
  if (!stamp) {
    stamp_.reset();
    cache_.clear();
    return cache_;
  }
  if (stamp == stamp_) return cache_;
  auto text = read_file(file_);
  if (!text) throw std::runtime_error("cannot read key file " + file_.string());
  boost::system::error_code ec;
  auto doc = boost::json::parse(*text, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("keys") || !doc.at("keys").is_array())
    throw std::runtime_error("key file " + file_.string() + " is not a key ring; remove it to start afresh");
  std::vector<RingKey> keys;
  for (const auto& v : doc.at("keys").as_array()) {
    const auto& o = v.as_object();
    RingKey k{jwt::Key::from_pem(o.at("private_key_pem").as_string()), o.at("created").to_number<std::int64_t>(),
              std::nullopt, o.at("max_exp").to_number<std::int64_t>()};
    k.key.set_kid(std::string(o.at("kid").as_string()));
    if (o.contains("retired_at") && !o.at("retired_at").is_null())
      k.retired_at = o.at("retired_at").to_number<std::int64_t>();
    keys.push_back(std::move(k));
  }
  cache_ = std::move(keys);
  stamp_ = stamp;
  return cache_;
}

void KeyRing::save_locked(const std::vector<RingKey>& keys) {
  boost::json::array arr;
  for (const auto& k : keys) {
    boost::json::object o;
    o["kid"] = k.key.kid();
    o["alg"] = jwt::alg_name(k.key.alg());
    o["created"] = k.created;
    o["retired_at"] = k.retired_at ? boost::json::value(*k.retired_at) : boost::json::value(nullptr);
    o["max_exp"] = k.max_exp;
    o["private_key_pem"] = k.key.private_pem();
    arr.push_back(std::move(o));
  }
  boost::json::object doc;
  doc["keys"] = std::move(arr);
  write_file_atomically(file_, boost::json::serialize(doc), 0600);
  cache_ = keys;
  stamp_ = file_stamp(file_);
}

void KeyRing::ensure(std::int64_t now) {
  std::lock_guard guard(mutex_);
  FileLock lock(lock_file_);
  if (!load_locked().empty()) return;
  save_locked({new_key(jwt::Alg::RS256, now), new_key(jwt::Alg::ES256, now)});
}

jwt::Key KeyRing::signing_key(jwt::Alg alg, std::int64_t exp, std::int64_t now) {
  std::lock_guard guard(mutex_);
  // Fast path: an in-process signer whose recorded max_exp already covers this token needs no file lock.
  for (const auto& k : cache_)
    if (!k.retired_at && k.key.alg() == alg && k.max_exp >= exp && file_stamp(file_) == stamp_) return k.key;
  FileLock lock(lock_file_);
  auto keys = load_locked();
  RingKey* active = nullptr;
  for (auto& k : keys)
    if (!k.retired_at && k.key.alg() == alg) active = &k;
  if (!active) {
    keys.push_back(new_key(alg, now));
    active = &keys.back();
  }
  if (active->max_exp < exp) {
    active->max_exp = exp + exp_slack_;
    jwt::Key key = active->key;
    save_locked(keys);
    return key;
  }
  return active->key;
}

KeyRing::Rotation KeyRing::rotate(std::int64_t now, const std::vector<jwt::Alg>& algs) {
  std::lock_guard guard(mutex_);
  FileLock lock(lock_file_);
  auto keys = load_locked();
  Rotation r;
  std::vector<jwt::Alg> which = algs.empty() ? std::vector<jwt::Alg>{jwt::Alg::RS256, jwt::Alg::ES256} : algs;
  for (jwt::Alg alg : which) {
    for (auto& k : keys)
      if (!k.retired_at && k.key.alg() == alg) {
        k.retired_at = now;
        r.retired.push_back(k.key.kid());
      }
    keys.push_back(new_key(alg, now));
    r.created.push_back(keys.back().key.kid());
  }
  // Retired keys whose every token has long expired are forgotten (an hour of margin for any verifier skew).
  std::erase_if(keys, [&](const RingKey& k) { return k.retired_at && k.max_exp + 3600 < now; });
  save_locked(keys);
  return r;
}

std::vector<jwt::Key> KeyRing::published(std::int64_t now, std::int64_t skew) {
  std::lock_guard guard(mutex_);
  std::vector<RingKey> keys;
  {
    if (file_stamp(file_) != stamp_) {
      FileLock lock(lock_file_);
      keys = load_locked();
    } else {
      keys = cache_;
    }
  }
  std::vector<jwt::Key> out;
  for (const auto& k : keys)
    if (!k.retired_at) out.push_back(k.key);
  for (const auto& k : keys)
    if (k.retired_at && k.max_exp + skew > now) out.push_back(k.key);
  return out;
}

std::vector<RingKey> KeyRing::all() {
  std::lock_guard guard(mutex_);
  FileLock lock(lock_file_);
  return load_locked();
}

}  // namespace azwi::emulator
