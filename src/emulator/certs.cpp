#include "emulator/certs.hpp"

#include <set>
#include <stdexcept>

#include "certs/pki.hpp"
#include "emulator/files.hpp"

namespace azwi::emulator {
namespace fs = std::filesystem;
namespace {

// Clients point their trust at ca.crt once (SSL_CERT_FILE, ...), so the CA lives long; the serving certificate is
// re-issued by it.
certs::PkiProfile emulator_profile() {
  certs::PkiProfile p;
  p.ca_name = "azwi-emulator local CA";
  return p;
}

// --san takes "IP:1.2.3.4" and "DNS:name" as well as bare names; the certs module tells addresses from names itself.
std::string bare_name(const std::string& san) {
  for (std::string_view prefix : {"IP:", "DNS:"})
    if (san.starts_with(prefix)) return san.substr(prefix.size());
  return san;
}

}  // namespace

TlsFiles ensure_tls(const fs::path& dir, const std::vector<std::string>& sans, bool loopback) {
  TlsFiles f{dir / "ca.crt", dir / "ca.key", dir / "server.crt", dir / "server.key"};
  FileLock lock(dir / ".tls.lock");

  certs::Pki current{read_file(f.ca_cert).value_or(""), read_file(f.ca_key).value_or(""),
                     read_file(f.server_cert).value_or(""), read_file(f.server_key).value_or("")};
  bool have_ca = !certs::read_certs(current.ca_cert).empty() && certs::read_key(current.ca_key);
  if (!have_ca && (fs::exists(f.ca_cert) || fs::exists(f.ca_key)))
    throw std::runtime_error("CA files " + f.ca_cert.string() + " / " + f.ca_key.string() +
                             " exist but cannot be read; remove both to create a new CA");

  std::set<std::string> wanted;
  if (loopback) wanted = {"127.0.0.1", "::1", "localhost"};
  for (const auto& s : sans)
    if (auto name = bare_name(s); !name.empty()) wanted.insert(name);
  std::vector<std::string> names(wanted.begin(), wanted.end());
  std::string san_text;
  for (const auto& n : names) {
    if (!san_text.empty()) san_text += ',';
    san_text += certs::san_entry(n);
  }

  // The names a serving certificate was issued for are kept beside it, so a restart with the same --san reuses it
  // and one with fewer names drops the others.
  fs::path san_file = dir / "server.sans";
  auto now = std::chrono::system_clock::now();
  if (have_ca && read_file(san_file) == san_text && certs::check_pki(current, names, now).usable) return f;

  certs::Pki fresh = certs::issue_pki(names, now, emulator_profile(), have_ca ? &current : nullptr);
  f.ca_created = fresh.ca_key != current.ca_key;
  if (f.ca_created) write_file_atomically(f.ca_key, fresh.ca_key, 0600);
  if (fresh.ca_cert != current.ca_cert) write_file_atomically(f.ca_cert, fresh.ca_cert, 0644);
  write_file_atomically(f.server_key, fresh.key, 0600);
  write_file_atomically(f.server_cert, fresh.cert, 0644);
  write_file_atomically(san_file, san_text, 0644);
  f.server_issued = true;
  return f;
}

}  // namespace azwi::emulator
