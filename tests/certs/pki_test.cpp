// The certs module: certificates it issues, checked with the openssl command as an independent verifier (chain,
// names, purpose, key type, time), renewal and CA rollover on chosen dates, adoption of a pair another tool made,
// and the errors of a pair it cannot issue.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "certs/pki.hpp"
#include "support/openssl_cli.hpp"

using namespace azwi;
using namespace azwi::testing;
using namespace std::chrono;

namespace {

const std::string kNs = "azure-workload-identity-system", kService = "azure-wi-webhook-webhook-service";
const std::string kServiceHost = kService + "." + kNs + ".svc";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

std::string make_temp_dir(const std::string& stem) {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/" + stem + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

const auto kDns = certs::serving_dns_names(kService, kNs);
const certs::PkiProfile kLife;

// ---------------------------------------------------------------- PKI functions

TEST(CertPki, IssuedCertificateChainsToItsCaAndNamesTheService) {
  auto dir = make_temp_dir("azwi-pki");
  auto now = system_clock::now();
  auto pki = certs::issue_pki(kDns, now, kLife, nullptr);
  EXPECT_TRUE(certs::check_pki(pki, kDns, now).usable) << certs::check_pki(pki, kDns, now).reason;
  EXPECT_EQ(count_certs(pki.ca_cert), 1);
  for (const auto& name : kDns) EXPECT_TRUE(openssl_verifies(dir, pki.ca_cert, pki.cert, name, now)) << name;
  EXPECT_FALSE(openssl_verifies(dir, pki.ca_cert, pki.cert, "other." + kNs + ".svc", now));
  auto text = sh("echo '" + pki.cert + "' | openssl x509 -noout -text");
  EXPECT_NE(text.out.find("TLS Web Server Authentication"), std::string::npos);
  EXPECT_NE(text.out.find("prime256v1"), std::string::npos);
  EXPECT_NE(text.out.find("CA:FALSE"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(CertPki, RenewalIsDueWhenAThirdOfTheLifetimeIsLeft) {
  auto now = system_clock::now();
  auto pki = certs::issue_pki(kDns, now, kLife, nullptr);
  // Lifetime runs from an hour before issue; two thirds of (1 year + 1 hour) later, renewal is due.
  auto due = now - hours(1) + (kLife.cert + hours(1)) * 2 / 3;
  auto before = certs::check_pki(pki, kDns, due - hours(2));
  EXPECT_TRUE(before.usable) << before.reason;
  auto after = certs::check_pki(pki, kDns, due + hours(2));
  EXPECT_FALSE(after.usable);
  EXPECT_FALSE(after.renew_ca);
  EXPECT_NE(after.reason.find("renewal due"), std::string::npos) << after.reason;
}

TEST(CertPki, RenewedCertificateKeepsTheCa) {
  auto now = system_clock::now();
  auto first = certs::issue_pki(kDns, now, kLife, nullptr);
  auto later = now + days(300);
  auto renewed = certs::issue_pki(kDns, later, kLife, &first);
  EXPECT_EQ(renewed.ca_cert, first.ca_cert);
  EXPECT_EQ(renewed.ca_key, first.ca_key);
  EXPECT_NE(renewed.cert, first.cert);
  EXPECT_NE(renewed.key, first.key);
  EXPECT_TRUE(certs::check_pki(renewed, kDns, later).usable);
}

TEST(CertPki, NewCaIsPublishedWithThePreviousOneSoOldCertificatesStayTrusted) {
  auto dir = make_temp_dir("azwi-pki");
  auto now = system_clock::now();
  certs::PkiProfile short_ca{hours(24 * 90), hours(24 * 90)};  // the first leaf outlives the CA's renewal
  auto first = certs::issue_pki(kDns, now, short_ca, nullptr);
  auto later = now + days(61);  // past two thirds of the CA's 90 days
  auto check = certs::check_pki(first, kDns, later);
  EXPECT_FALSE(check.usable);
  EXPECT_TRUE(check.renew_ca) << check.reason;
  auto renewed = certs::issue_pki(kDns, later, short_ca, &first);
  EXPECT_EQ(count_certs(renewed.ca_cert), 2);
  EXPECT_NE(renewed.ca_key, first.ca_key);
  EXPECT_TRUE(openssl_verifies(dir, renewed.ca_cert, renewed.cert, kServiceHost, later));
  // A replica still serving the previous certificate (signed by the old CA) is trusted through the new bundle.
  EXPECT_TRUE(openssl_verifies(dir, renewed.ca_cert, first.cert, kServiceHost, later));
  // Once the old CA has expired it is dropped at the next renewal.
  auto much_later = now + days(120);
  auto again = certs::issue_pki(kDns, much_later, short_ca, &renewed);
  EXPECT_EQ(count_certs(again.ca_cert), 1);
  std::filesystem::remove_all(dir);
}

TEST(CertPki, WrongNamesMismatchedKeysAndGarbageAreReplaced) {
  auto now = system_clock::now();
  auto pki = certs::issue_pki(kDns, now, kLife, nullptr);
  auto other = certs::issue_pki(certs::serving_dns_names("other", kNs), now, kLife, nullptr);
  EXPECT_FALSE(certs::check_pki(other, kDns, now).usable);
  EXPECT_NE(certs::check_pki(other, kDns, now).reason.find("does not name"), std::string::npos);
  auto swapped = pki;
  swapped.key = other.key;
  EXPECT_NE(certs::check_pki(swapped, kDns, now).reason.find("serving key does not belong"), std::string::npos);
  auto foreign_ca = pki;
  foreign_ca.ca_cert = other.ca_cert;
  foreign_ca.ca_key = other.ca_key;
  EXPECT_NE(certs::check_pki(foreign_ca, kDns, now).reason.find("does not verify"), std::string::npos);
  auto garbage = certs::check_pki(certs::Pki{"x", "y", "z", "w"}, kDns, now);
  EXPECT_FALSE(garbage.usable);
  EXPECT_TRUE(garbage.renew_ca);
  auto empty = certs::check_pki(certs::Pki{}, kDns, now);
  EXPECT_TRUE(empty.renew_ca);
}

// The emulator's certificates name loopback and listen addresses: IP addresses are IP entries that clients match
// against the address they dialled (a DNS entry "127.0.0.1" would match nothing), and the CA carries the profile's name.
TEST(CertPki, IpAddressesAreIpEntriesAndTheCaIsNamedByTheProfile) {
  auto dir = make_temp_dir("azwi-pki");
  auto now = system_clock::now();
  EXPECT_EQ(certs::san_entry("10.1.2.3"), "IP:10.1.2.3");
  EXPECT_EQ(certs::san_entry("::1"), "IP:::1");
  EXPECT_EQ(certs::san_entry("10.1.2.3.example"), "DNS:10.1.2.3.example");
  certs::PkiProfile profile;
  profile.ca_name = "azwi-emulator local CA";
  const std::vector<std::string> names{"localhost", "127.0.0.1", "::1", "10.1.2.3"};
  auto pki = certs::issue_pki(names, now, profile, nullptr);
  EXPECT_TRUE(certs::check_pki(pki, names, now).usable) << certs::check_pki(pki, names, now).reason;
  auto text = sh("echo '" + pki.cert + "' | openssl x509 -noout -ext subjectAltName");
  EXPECT_NE(text.out.find("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.1.2.3"),
            std::string::npos)
      << text.out;
  write_file(dir + "/ca.pem", pki.ca_cert);
  write_file(dir + "/leaf.pem", pki.cert);
  auto verify_ip = [&](const std::string& ip) {
    return sh("openssl verify -CAfile " + dir + "/ca.pem -purpose sslserver -verify_ip " + ip + " " + dir +
              "/leaf.pem")
               .code == 0;
  };
  EXPECT_TRUE(verify_ip("10.1.2.3"));
  EXPECT_TRUE(verify_ip("::1"));
  EXPECT_FALSE(verify_ip("10.1.2.4"));
  auto missing = certs::check_pki(pki, {"localhost", "10.1.2.4"}, now);
  EXPECT_FALSE(missing.usable);
  EXPECT_EQ(missing.reason, "the serving certificate does not name 10.1.2.4");
  EXPECT_NE(sh("echo '" + pki.ca_cert + "' | openssl x509 -noout -subject").out.find("CN = azwi-emulator local CA"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

// A Secret the upstream webhook's cert-controller left (RSA keys, made by another tool) is adopted while valid.
TEST(CertPki, ForeignRsaCertificatesAreAdopted) {
  auto dir = make_temp_dir("azwi-pki");
  write_file(dir + "/ext", "subjectAltName=DNS:" + kDns[0] + ",DNS:" + kDns[1] + ",DNS:" + kDns[2] + ",DNS:" +
                               kDns[3] + "\nextendedKeyUsage=serverAuth\n");
  auto r = sh("cd " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650"
              " -subj /CN=upstream-ca && openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj /CN=" +
              kService + " && openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650"
              " -out tls.crt -extfile ext");
  ASSERT_EQ(r.code, 0) << r.out;
  certs::Pki upstream{read_file(dir + "/ca.crt"), read_file(dir + "/ca.key"), read_file(dir + "/tls.crt"),
                   read_file(dir + "/tls.key")};
  auto check = certs::check_pki(upstream, kDns, system_clock::now());
  EXPECT_TRUE(check.usable) << check.reason;
  // And its CA signs our renewals.
  auto renewed = certs::issue_pki(kDns, system_clock::now() + days(300), kLife, &upstream);
  EXPECT_EQ(renewed.ca_cert, upstream.ca_cert);
  EXPECT_TRUE(openssl_verifies(dir, renewed.ca_cert, renewed.cert, kServiceHost, system_clock::now() + days(300)));
  // Past two thirds of its ten years, the upstream CA is replaced and published next to the new one.
  auto late = system_clock::now() + days(2500);
  auto replaced = certs::issue_pki(kDns, late, kLife, &upstream);
  EXPECT_EQ(count_certs(replaced.ca_cert), 2);
  EXPECT_TRUE(openssl_verifies(dir, replaced.ca_cert, upstream.cert, kServiceHost, late));
  std::filesystem::remove_all(dir);
}

TEST(CertPki, DnsNamesOfAServiceAreItsFourSpellings) {
  EXPECT_EQ(certs::serving_dns_names("svc", "ns"),
            (std::vector<std::string>{"svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local"}));
}

TEST(CertPki, FingerprintAndExpiryOfAPemText) {
  auto now = system_clock::now();
  auto pki = certs::issue_pki(kDns, now, kLife, nullptr);
  auto fp = certs::cert_fingerprint(pki.cert);
  EXPECT_EQ(fp.size(), 12u);
  auto openssl = sh("echo '" + pki.cert + "' | openssl x509 -noout -fingerprint -sha256");
  std::string hex;
  for (char c : openssl.out.substr(openssl.out.find('=') + 1))
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
  EXPECT_EQ(hex.substr(0, 12), fp) << openssl.out;
  EXPECT_EQ(certs::cert_fingerprint("not a certificate"), "none");
  auto not_after = certs::cert_not_after(pki.cert);
  ASSERT_TRUE(not_after);
  EXPECT_EQ(unix_seconds(*not_after), unix_seconds(now + kLife.cert));
  EXPECT_FALSE(certs::cert_not_after(""));
}

// What cannot be issued is an Error that names the cause, never a certificate that does not serve.
TEST(CertPki, NamesThatCannotBeIssuedAreClearErrors) {
  auto now = system_clock::now();
  auto message = [&](const std::vector<std::string>& names) -> std::string {
    try {
      certs::issue_pki(names, now, kLife, nullptr);
    } catch (const certs::Error& e) {
      return e.what();
    }
    return "issued";
  };
  EXPECT_EQ(message({}), "cannot issue a serving certificate without a name");
  EXPECT_EQ(message({"svc", ""}), "cannot issue a serving certificate for the name \"\"");
  EXPECT_EQ(message({"a,DNS:evil.example"}),
            "cannot issue a serving certificate for the name \"a,DNS:evil.example\"");
}

// An OpenSSL call that fails is reported with OpenSSL's reason, not ignored: a name that is not UTF-8 cannot be the
// certificate's common name.
TEST(CertPki, AnOpenSslRefusalNamesTheStepAndOpenSslsReason) {
  try {
    certs::issue_pki({std::string("bad\xffname")}, system_clock::now(), kLife, nullptr);
    FAIL() << "a name that is not UTF-8 was issued";
  } catch (const certs::Error& e) {
    std::string text = e.what();
    EXPECT_TRUE(text.starts_with("cannot set the certificate's common name: error:")) << text;
    EXPECT_NE(text.find("error:"), std::string::npos) << "OpenSSL's reason: " << text;
  }
}

TEST(CertPki, FailFormatsTheOpenSslErrorQueueAndEmptiesIt) {
  ERR_put_error(ERR_LIB_X509, 0, X509_R_CERT_ALREADY_IN_HASH_TABLE, __FILE__, __LINE__);
  try {
    certs::fail("do a test step");
  } catch (const certs::Error& e) {
    std::string text = e.what();
    EXPECT_TRUE(text.starts_with("cannot do a test step: error:")) << text;
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
  try {
    certs::fail("do another");
  } catch (const certs::Error& e) {
    EXPECT_STREQ(e.what(), "cannot do another: OpenSSL gave no reason");
  }
}

}  // namespace
