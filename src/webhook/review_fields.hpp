#pragma once
// The members of an AdmissionReview the webhook reads, declared once: the pruning parser (review_json.cpp) keeps
// exactly the lists below, and admission.cpp and mutation.cpp read the review by these names, so what is read and
// what is kept cannot drift apart. A new field read means a new name here and in its list.
#include <string_view>

namespace azwi::webhook::field {

// The review and its request.
inline constexpr std::string_view api_version = "apiVersion", kind = "kind", request = "request", uid = "uid",
                                  operation = "operation", dry_run = "dryRun", object = "object";
// The pod.
inline constexpr std::string_view metadata = "metadata", spec = "spec";
inline constexpr std::string_view name = "name", generate_name = "generateName", ns = "namespace", labels = "labels",
                                  annotations = "annotations";
inline constexpr std::string_view service_account_name = "serviceAccountName", host_network = "hostNetwork",
                                  volumes = "volumes", init_containers = "initContainers", containers = "containers";
// A container; its env and volumeMounts are kept whole.
inline constexpr std::string_view env = "env", volume_mounts = "volumeMounts";

inline constexpr std::string_view kRoot[] = {api_version, kind, request};
inline constexpr std::string_view kRequest[] = {uid, kind, operation, ns, dry_run, object};
inline constexpr std::string_view kPod[] = {metadata, spec};
inline constexpr std::string_view kMetadata[] = {name, generate_name, ns, labels, annotations};
inline constexpr std::string_view kSpec[] = {service_account_name, host_network, volumes, init_containers, containers};
inline constexpr std::string_view kContainer[] = {name, env, volume_mounts};

}  // namespace azwi::webhook::field
