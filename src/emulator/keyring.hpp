#pragma once
// A persistent set of JWS signing keys in one JSON file of the state directory, shared by processes (the server
// publishes, mint-token signs): every change happens under a lock file and replaces the file atomically.
//
// Rotation retires the active key of an algorithm and creates a new one. A retired key stays published until the
// last token signed with it has expired (plus the verifier's clock skew), so tokens in flight keep validating:
// each signer records the latest exp it signed per key (max_exp).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "jwt/key.hpp"

namespace azwi::emulator {

struct RingKey {
  jwt::Key key;
  std::int64_t created = 0;
  std::optional<std::int64_t> retired_at;
  std::int64_t max_exp = 0;  // latest exp of a token signed with this key
};

class KeyRing {
 public:
  // exp_slack: how far past a signed token's exp to record max_exp, so a signer issuing many tokens with steadily
  // later exps (the Entra role) writes the file once per slack period instead of once per token.
  KeyRing(std::filesystem::path file, std::int64_t exp_slack = 0);

  // Creates the file with one RS256 and one ES256 key when it does not exist.
  void ensure(std::int64_t now);
  // The active key for alg (created when missing), after recording that a token expiring at exp will be signed.
  jwt::Key signing_key(jwt::Alg alg, std::int64_t exp, std::int64_t now);
  struct Rotation {
    std::vector<std::string> retired, created;
  };
  // Retires the active key of each algorithm given (all when empty) and creates successors.
  Rotation rotate(std::int64_t now, const std::vector<jwt::Alg>& algs = {});
  // Active keys, then retired keys whose tokens may still be valid (max_exp + skew > now). Retired keys past
  // that point are dropped from the file on the next change.
  std::vector<jwt::Key> published(std::int64_t now, std::int64_t skew);
  std::vector<RingKey> all();

  const std::filesystem::path& file() const { return file_; }

 private:
  std::vector<RingKey> load_locked();  // re-reads the file only when it changed
  void save_locked(const std::vector<RingKey>& keys);
  std::filesystem::path file_, lock_file_;
  std::int64_t exp_slack_;
  std::mutex mutex_;
  std::optional<FileStamp> stamp_;  // of the file cache_ was read from
  std::vector<RingKey> cache_;
};

}  // namespace azwi::emulator
