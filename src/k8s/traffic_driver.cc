#include "k8s/traffic_driver.h"

#include "common/strings.h"

namespace iter8::k8s {

absl::Status KubernetesTrafficDriver::Apply(const engine::WeightPatch& patch) {
  const api::ObjectReference& ref = patch.object;
  absl::StatusOr<Resource> r = client_.Discover(ref.api_version, ref.kind);
  if (!r.ok()) return r.status();
  Json ops = Json::array();
  for (const engine::WeightPatch::Op& op : patch.ops) {
    ops.push_back({{"op", "add"}, {"path", op.pointer}, {"value", op.value}});
  }
  absl::StatusOr<Json> patched =
      client_.Patch(*r, r->namespaced ? ref.namespace_ : "", ref.name, PatchType::kJson, ops);
  if (!patched.ok()) {
    return absl::Status(patched.status().code(),
                        StrCat("patch ", ref.kind, " ", ref.namespace_, "/", ref.name, ": ",
                               patched.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> KubernetesTrafficDriver::Read(const api::ObjectReference& ref) {
  absl::StatusOr<Resource> r = client_.Discover(ref.api_version, ref.kind);
  if (!r.ok()) return r.status();
  absl::StatusOr<Json> object = client_.Get(*r, r->namespaced ? ref.namespace_ : "", ref.name);
  if (!object.ok()) return object.status();
  return traffic::WeightAt(*object, ref);
}

}  // namespace iter8::k8s
