#include "k8s/cluster_store.h"

#include "api/conversion.h"
#include "common/strings.h"

namespace iter8::k8s {
namespace {

constexpr size_t kFeedLimit = 200000;  // changes kept for the controller to read
constexpr char kHandlerApiVersion[] = "iter8.tools/v1alpha1";

std::string Meta(const Json& object, const char* field) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return "";
  }
  return object["metadata"].value(field, std::string());
}

std::string ConfigMapName(const std::string& ns, const std::string& name) {
  return StrCat(ns, ".", name);
}

Json ParseData(const Json& data, const char* key) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return Json::object();
  Json parsed = Json::parse(data[key].get<std::string>(), nullptr, false);
  return parsed.is_discarded() ? Json::object() : parsed;
}

}  // namespace

Json HandlerToConfigMap(const Json& handler, const std::string& iter8_namespace) {
  const std::string ns =
      Meta(handler, "namespace").empty() ? "default" : Meta(handler, "namespace");
  const std::string name = Meta(handler, "name");
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", ConfigMapName(ns, name)},
               {"namespace", iter8_namespace},
               {"labels", {{kHandlerLabel, "true"}}}}},
             {"data",
              {{"namespace", ns},
               {"name", name},
               {"spec", handler.value("spec", Json::object()).dump()},
               {"status", handler.value("status", Json::object()).dump()}}}};
  const std::string rv = Meta(handler, "resourceVersion");
  if (!rv.empty()) cm["metadata"]["resourceVersion"] = rv;
  return cm;
}

absl::StatusOr<Json> HandlerFromConfigMap(const Json& config_map) {
  const Json data = config_map.value("data", Json::object());
  if (!data.is_object() || !data.contains("namespace") || !data.contains("name") ||
      !data["namespace"].is_string() || !data["name"].is_string()) {
    return absl::InvalidArgumentError(
        StrCat("ConfigMap ", Meta(config_map, "namespace"), "/", Meta(config_map, "name"),
               " is labelled ", kHandlerLabel, " but has no data.namespace and data.name"));
  }
  Json h = {{"apiVersion", kHandlerApiVersion},
            {"kind", "Handler"},
            {"metadata",
             {{"namespace", data["namespace"]},
              {"name", data["name"]},
              {"resourceVersion", Meta(config_map, "resourceVersion")},
              {"uid", Meta(config_map, "uid")}}},
            {"spec", ParseData(data, "spec")},
            {"status", ParseData(data, "status")}};
  return h;
}

ClusterStore::ClusterStore(Client& client, ClusterStoreOptions options)
    : client_(client), options_(std::move(options)) {}

ClusterStore::~ClusterStore() { Stop(); }

void ClusterStore::Stop() {
  for (Informer* i : {experiments_.get(), metrics_.get(), handlers_.get()}) {
    if (i != nullptr) i->Stop();
  }
}

absl::StatusOr<std::unique_ptr<ClusterStore>> ClusterStore::Open(Client& client,
                                                                 ClusterStoreOptions options) {
  absl::StatusOr<Resource> experiments = client.Discover("iter8.tools/v2alpha2", "Experiment");
  if (!experiments.ok()) {
    return absl::FailedPreconditionError(
        StrCat("iter8's Experiment CRD is not served (kubectl apply -k deploy/crds): ",
               experiments.status().message()));
  }
  absl::StatusOr<Resource> metrics = client.Discover("iter8.tools/v2alpha2", "Metric");
  if (!metrics.ok()) {
    return absl::FailedPreconditionError(
        StrCat("iter8's Metric CRD is not served (kubectl apply -k deploy/crds): ",
               metrics.status().message()));
  }
  absl::StatusOr<Resource> config_maps = client.Discover("v1", "ConfigMap");
  if (!config_maps.ok()) return config_maps.status();

  std::unique_ptr<ClusterStore> s(new ClusterStore(client, std::move(options)));
  ClusterStore* self = s.get();
  InformerOptions eo = s->options_.informer;
  eo.ns = s->options_.namespace_;
  eo.label_selector.clear();
  s->experiments_ = std::make_unique<Informer>(
      client, *experiments, eo,
      [self](store::ChangeType t, const Json& o) { self->Record(t, "Experiment", o); });
  InformerOptions mo = s->options_.informer;
  mo.ns.clear();
  mo.label_selector.clear();
  s->metrics_ = std::make_unique<Informer>(
      client, *metrics, mo,
      [self](store::ChangeType t, const Json& o) { self->Record(t, "Metric", o); });
  InformerOptions ho = s->options_.informer;
  ho.ns = s->options_.iter8_namespace;
  ho.label_selector = StrCat(kHandlerLabel, "=true");
  s->handlers_ = std::make_unique<Informer>(
      client, *config_maps, ho,
      [self](store::ChangeType t, const Json& o) { self->Record(t, "Handler", o); });
  for (Informer* i : {s->metrics_.get(), s->handlers_.get(), s->experiments_.get()}) {
    absl::Status started = i->Start();
    if (!started.ok()) {
      return absl::Status(started.code(),
                          StrCat("list ", i->GetResource().plural, ": ", started.message()));
    }
  }
  return s;
}

void ClusterStore::Record(store::ChangeType type, const std::string& kind, const Json& object) {
  store::ObjectKey key{kind, Meta(object, "namespace"), Meta(object, "name")};
  if (kind == "Handler") {
    absl::StatusOr<Json> h = HandlerFromConfigMap(object);
    if (!h.ok()) return;
    key.namespace_ = Meta(*h, "namespace");
    key.name = Meta(*h, "name");
  }
  std::lock_guard<std::mutex> l(mu_);
  feed_.push_back({++revision_, type, std::move(key)});
  while (feed_.size() > kFeedLimit) feed_.pop_front();
}

absl::StatusOr<Informer*> ClusterStore::InformerFor(const std::string& kind) {
  if (kind == "Experiment") return experiments_.get();
  if (kind == "Metric") return metrics_.get();
  return absl::InvalidArgumentError(StrCat("kind ", kind, " is not kept by the cluster store"));
}

absl::StatusOr<api::Json> ClusterStore::Cache(Informer& informer, absl::StatusOr<Json> written) {
  if (!written.ok()) return written.status();
  informer.Observe(*written);
  if (&informer != handlers_.get()) return api::Json(*written);
  absl::StatusOr<Json> h = HandlerFromConfigMap(*written);
  if (!h.ok()) return h.status();
  return api::Json(*h);
}

std::string ClusterStore::HandlerObjectName(const std::string& ns, const std::string& name) const {
  return ConfigMapName(ns, name);
}

absl::StatusOr<api::Json> ClusterStore::Get(const store::ObjectKey& key) {
  if (key.kind == "Handler") {
    std::optional<Json> cm =
        handlers_->Get(options_.iter8_namespace, HandlerObjectName(key.namespace_, key.name));
    if (!cm) return absl::NotFoundError(StrCat(key.String(), " not found"));
    absl::StatusOr<Json> h = HandlerFromConfigMap(*cm);
    if (!h.ok()) return h.status();
    return api::Json(*h);
  }
  absl::StatusOr<Informer*> informer = InformerFor(key.kind);
  if (!informer.ok()) return informer.status();
  std::optional<Json> o = (*informer)->Get(key.namespace_, key.name);
  if (!o) return absl::NotFoundError(StrCat(key.String(), " not found"));
  return api::Json(*o);
}

absl::StatusOr<std::vector<api::Json>> ClusterStore::List(const std::string& kind,
                                                          const std::string& ns) {
  if (kind == "Handler") {
    std::vector<api::Json> out;
    for (const Json& cm : handlers_->List(options_.iter8_namespace)) {
      absl::StatusOr<Json> h = HandlerFromConfigMap(cm);
      if (h.ok() && (ns.empty() || Meta(*h, "namespace") == ns)) out.emplace_back(*h);
    }
    return out;
  }
  absl::StatusOr<Informer*> informer = InformerFor(kind);
  if (!informer.ok()) return informer.status();
  std::vector<api::Json> out;
  for (const Json& o : (*informer)->List(ns)) out.emplace_back(o);
  return out;
}

absl::StatusOr<std::vector<api::Json>> ClusterStore::ListPrefix(const std::string& kind,
                                                                const std::string& ns,
                                                                const std::string& prefix) {
  std::vector<api::Json> out;
  if (kind == "Handler") {
    // ConfigMap names are "<namespace>.<handler>": one ordered range.
    for (const Json& cm :
         handlers_->ListPrefix(options_.iter8_namespace, ConfigMapName(ns, prefix))) {
      absl::StatusOr<Json> h = HandlerFromConfigMap(cm);
      if (h.ok() && Meta(*h, "namespace") == ns) out.emplace_back(*h);
    }
    return out;
  }
  absl::StatusOr<Informer*> informer = InformerFor(kind);
  if (!informer.ok()) return informer.status();
  for (const Json& o : (*informer)->ListPrefix(ns, prefix)) out.emplace_back(o);
  return out;
}

absl::StatusOr<api::Json> ClusterStore::WriteHandler(const Json& handler, bool status) {
  const std::string ns =
      Meta(handler, "namespace").empty() ? "default" : Meta(handler, "namespace");
  std::optional<Json> current =
      handlers_->Get(options_.iter8_namespace, HandlerObjectName(ns, Meta(handler, "name")));
  if (!current) {
    return absl::NotFoundError(StrCat("Handler ", ns, "/", Meta(handler, "name"), " not found"));
  }
  Json cm = *current;
  const std::string rv = Meta(handler, "resourceVersion");
  if (!rv.empty()) cm["metadata"]["resourceVersion"] = rv;
  const char* part = status ? "status" : "spec";
  cm["data"][part] = handler.value(part, Json::object()).dump();
  return Cache(*handlers_, client_.Update(handlers_->GetResource(), cm));
}

namespace {

// The API server stores iter8's kinds as v2alpha2: a v2alpha1 object (a v2alpha1 experiment the
// controller read as such, api/load.h) is converted with the webhook's own code before it is
// written, so status writes need no round trip through the webhook.
absl::StatusOr<Json> StorageForm(const api::Json& ordered) {
  if (!ordered.is_object() || ordered.value("apiVersion", std::string()) != api::kV2alpha1) {
    return Json(ordered);
  }
  absl::StatusOr<api::Json> v2 = api::ConvertResource(ordered, api::kV2alpha2);
  if (!v2.ok()) return v2.status();
  return Json(*v2);
}

}  // namespace

absl::StatusOr<api::Json> ClusterStore::Create(const api::Json& ordered) {
  absl::StatusOr<Json> stored = StorageForm(ordered);
  if (!stored.ok()) return stored.status();
  const Json& object = *stored;
  absl::StatusOr<store::ObjectKey> key = store::KeyOf(object);
  if (!key.ok()) return key.status();
  if (key->kind == "Handler") {
    absl::StatusOr<Json> written =
        client_.Create(handlers_->GetResource(), options_.iter8_namespace,
                       HandlerToConfigMap(object, options_.iter8_namespace));
    if (!written.ok()) return written.status();
    handlers_->Observe(*written);
    absl::StatusOr<Json> h = HandlerFromConfigMap(*written);
    if (!h.ok()) return h.status();
    return api::Json(*h);
  }
  absl::StatusOr<Informer*> informer = InformerFor(key->kind);
  if (!informer.ok()) return informer.status();
  return Cache(**informer, client_.Create((*informer)->GetResource(), key->namespace_, object));
}

absl::StatusOr<api::Json> ClusterStore::Update(const api::Json& ordered) {
  absl::StatusOr<Json> stored = StorageForm(ordered);
  if (!stored.ok()) return stored.status();
  const Json& object = *stored;
  absl::StatusOr<store::ObjectKey> key = store::KeyOf(object);
  if (!key.ok()) return key.status();
  if (key->kind == "Handler") return WriteHandler(object, /*status=*/false);
  absl::StatusOr<Informer*> informer = InformerFor(key->kind);
  if (!informer.ok()) return informer.status();
  Json body = object;
  if (Meta(body, "resourceVersion").empty()) {
    // The store's contract: no resourceVersion = unconditional. The API server wants one for
    // custom resources, so the cached one is sent (a conflict then means a newer write).
    std::optional<Json> current = (*informer)->Get(key->namespace_, key->name);
    if (!current) return absl::NotFoundError(StrCat(key->String(), " not found"));
    body["metadata"]["resourceVersion"] = Meta(*current, "resourceVersion");
  }
  return Cache(**informer, client_.Update((*informer)->GetResource(), body));
}

absl::StatusOr<api::Json> ClusterStore::UpdateStatus(const api::Json& ordered) {
  absl::StatusOr<Json> stored = StorageForm(ordered);
  if (!stored.ok()) return stored.status();
  const Json& object = *stored;
  absl::StatusOr<store::ObjectKey> key = store::KeyOf(object);
  if (!key.ok()) return key.status();
  if (key->kind == "Handler") return WriteHandler(object, /*status=*/true);
  absl::StatusOr<Informer*> informer = InformerFor(key->kind);
  if (!informer.ok()) return informer.status();
  return Cache(**informer, client_.Update((*informer)->GetResource(), object, /*status=*/true));
}

absl::Status ClusterStore::Delete(const store::ObjectKey& key) {
  if (key.kind == "Handler") {
    const std::string name = HandlerObjectName(key.namespace_, key.name);
    absl::Status s = client_.Delete(handlers_->GetResource(), options_.iter8_namespace, name);
    if (s.ok() || absl::IsNotFound(s)) handlers_->Forget(options_.iter8_namespace, name);
    return s;
  }
  absl::StatusOr<Informer*> informer = InformerFor(key.kind);
  if (!informer.ok()) return informer.status();
  absl::Status s = client_.Delete((*informer)->GetResource(), key.namespace_, key.name);
  if (s.ok() || absl::IsNotFound(s)) (*informer)->Forget(key.namespace_, key.name);
  return s;
}

absl::StatusOr<std::vector<store::Change>> ClusterStore::Changes(int64_t after, int limit) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<store::Change> out;
  if (feed_.empty() || feed_.back().revision <= after) return out;
  // Revisions in the feed are consecutive.
  const int64_t first = feed_.front().revision;
  size_t i = after < first ? 0 : static_cast<size_t>(after - first + 1);
  for (; i < feed_.size() && static_cast<int>(out.size()) < limit; ++i) out.push_back(feed_[i]);
  return out;
}

absl::StatusOr<int64_t> ClusterStore::Revision() {
  std::lock_guard<std::mutex> l(mu_);
  return revision_;
}

ClusterStoreStats ClusterStore::Stats() const {
  ClusterStoreStats st;
  st.experiments = experiments_->Size();
  st.metrics = metrics_->Size();
  st.handlers = handlers_->Size();
  st.experiment_informer = experiments_->Stats();
  return st;
}

}  // namespace iter8::k8s
