#include "traffic/traffic.h"

#include "common/strings.h"

namespace iter8::traffic {
namespace {

using api::Json;

std::string Describe(const api::ObjectReference& ref) {
  return StrCat(ref.kind, " ", ref.namespace_, "/", ref.name);
}

}  // namespace

absl::Status StoreTrafficDriver::Apply(const engine::WeightPatch& patch) {
  const store::ObjectKey key{patch.object.kind, patch.object.namespace_, patch.object.name};
  // Optimistic concurrency: re-read and retry when someone else wrote in between.
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<Json> object = store_.Get(key);
    if (!object.ok()) return object.status();
    Json ops = Json::array();
    for (const auto& op : patch.ops) {
      ops.push_back({{"op", "add"}, {"path", op.pointer}, {"value", op.value}});
    }
    Json patched;
    try {
      patched = object->patch(ops);
    } catch (const Json::exception& e) {
      return absl::InvalidArgumentError(
          StrCat("cannot patch ", Describe(patch.object), ": ", e.what()));
    }
    absl::StatusOr<Json> written = store_.Update(patched);
    if (written.ok()) return absl::OkStatus();
    if (!absl::IsAborted(written.status())) return written.status();
  }
  return absl::AbortedError(StrCat("cannot patch ", Describe(patch.object),
                                   ": conflicting writes, gave up after 5 attempts"));
}

absl::StatusOr<int32_t> StoreTrafficDriver::Read(const api::ObjectReference& ref) {
  absl::StatusOr<Json> object = store_.Get({ref.kind, ref.namespace_, ref.name});
  if (!object.ok()) return object.status();
  return WeightAt(*object, ref);
}

absl::StatusOr<int32_t> WeightAt(const Json& object, const api::ObjectReference& ref) {
  const std::string pointer = ref.field_path.rfind('/', 0) == 0
                                  ? ref.field_path
                                  : engine::FieldPathToPointer(ref.field_path);
  try {
    const Json& v = object.at(Json::json_pointer(pointer));
    if (v.is_number_integer() && v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX) {
      return static_cast<int32_t>(v.get<int64_t>());
    }
    if (v.is_string()) {
      const std::string text = v.get<std::string>();
      char* end = nullptr;
      const long n = std::strtol(text.c_str(), &end, 10);
      if (!text.empty() && *end == '\0' && n >= INT32_MIN && n <= INT32_MAX) {
        return static_cast<int32_t>(n);
      }
    }
    return absl::InvalidArgumentError(
        StrCat(Describe(ref), ": ", ref.field_path, " is not an integer: ", v.dump()));
  } catch (const Json::exception&) {
    return absl::NotFoundError(StrCat(Describe(ref), ": no field ", ref.field_path));
  }
}

absl::StatusOr<std::map<std::string, int32_t>> ReadWeights(TrafficDriver& driver,
                                                           const api::Experiment& experiment) {
  std::map<std::string, int32_t> out;
  if (!experiment.spec.version_info) return out;
  for (const api::VersionDetail* v : api::AllVersions(experiment.spec)) {
    if (!v->weight_obj_ref || v->weight_obj_ref->field_path.empty()) continue;
    api::ObjectReference ref = *v->weight_obj_ref;
    if (ref.namespace_.empty()) ref.namespace_ = experiment.metadata.namespace_;
    absl::StatusOr<int32_t> w = driver.Read(ref);
    if (!w.ok()) return w.status();
    out[v->name] = *w;
  }
  return out;
}

}  // namespace iter8::traffic
