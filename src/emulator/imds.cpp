#include "emulator/imds.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>

#include "common/text.hpp"
#include "emulator/form.hpp"

namespace azwi::emulator {
namespace json = boost::json;

namespace {

json::object instance_document() {
  json::object compute;
  compute["azEnvironment"] = "AzurePublicCloud";
  compute["location"] = "westeurope";
  compute["name"] = "aks-nodepool1-12345678-vmss000000";
  compute["osType"] = "Linux";
  compute["resourceGroupName"] = "MC_azwi-rg_azwi-cluster_westeurope";
  compute["subscriptionId"] = "00000000-0000-0000-0000-000000000000";
  compute["vmId"] = "11111111-2222-3333-4444-555555555555";
  compute["vmSize"] = "Standard_D2s_v3";
  compute["zone"] = "1";
  json::object ip;
  ip["privateIpAddress"] = "10.224.0.4";
  ip["publicIpAddress"] = "";
  json::object ipv4;
  ipv4["ipAddress"] = json::array{ip};
  ipv4["subnet"] = json::array{json::object{{"address", "10.224.0.0"}, {"prefix", "16"}}};
  json::object iface;
  iface["ipv4"] = std::move(ipv4);
  iface["macAddress"] = "000D3A000000";
  json::object network;
  network["interface"] = json::array{iface};
  json::object doc;
  doc["compute"] = std::move(compute);
  doc["network"] = std::move(network);
  return doc;
}
}  // namespace

Reply handle_imds(const ImdsRequest& req) {
  std::string_view target = req.target;
  auto q = target.find('?');
  std::string path(target.substr(0, q));
  std::string query(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  std::string lpath = ascii::to_lower(path);
  // Real IMDS: /metadata is matched case-insensitively, the Metadata header and api-version are required,
  // proxied requests (X-Forwarded-For) are refused.
  if (!lpath.starts_with("/metadata/")) return json_error(404, "not_found", "no such IMDS path: " + path);
  auto header = [&](const char* name) -> std::string {
    for (const auto& [k, v] : req.headers)
      if (ascii::to_lower(k) == name) return v;
    return {};
  };
  if (ascii::to_lower(header("metadata")) != "true")
    return json_error(400, "bad_request", "Required metadata header not specified");
  if (!header("x-forwarded-for").empty())
    return json_error(400, "bad_request", "Request cannot be made through a proxy (X-Forwarded-For is set)");
  if (req.method != "GET") return json_error(405, "method_not_allowed", "only GET is allowed");
  auto form = parse_form(query);
  if (!form || !form->contains("api-version") || form->at("api-version").empty())
    return json_error(400, "bad_request", "Bad request. api-version was not specified in the request.");

  json::object echo;
  echo["method"] = req.method;
  echo["path"] = path;
  echo["query"] = query;
  json::object headers;
  for (const auto& [k, v] : req.headers) headers[ascii::to_lower(k)] = v;
  echo["headers"] = std::move(headers);

  json::object doc;
  if (lpath == "/metadata/instance" || lpath == "/metadata/instance/") {
    doc = instance_document();
  } else if (lpath.starts_with("/metadata/instance/")) {
    // /metadata/instance/compute/vmId style: walk the document.
    json::value cur = instance_document();
    std::string_view rest = std::string_view(path).substr(std::string_view("/metadata/instance/").size());
    while (!rest.empty()) {
      auto slash = rest.find('/');
      std::string part(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (part.empty()) continue;
      if (!cur.is_object() || !cur.as_object().contains(part))
        return json_error(404, "not_found", "no such instance metadata: " + path);
      json::value next = cur.as_object().at(part);
      cur = std::move(next);
    }
    if (!cur.is_object()) return Reply{200, json::serialize(cur), "text/plain; charset=utf-8", {}};
    doc = cur.as_object();
  } else if (lpath.starts_with("/metadata/identity")) {
    // Identity requests belong to the proxy; reaching here means the passthrough forwarded one.
    return json_error(400, "invalid_request", "the emulator's IMDS responder does not serve identity tokens");
  } else {
    doc["note"] = "azwi-emulator IMDS responder";
  }
  doc["azwi_emulator_echo"] = std::move(echo);
  return json_reply(200, json::serialize(doc));
}

}  // namespace azwi::emulator
