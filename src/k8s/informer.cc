#include "k8s/informer.h"

#include <charconv>

#include "absl/time/clock.h"
#include "common/strings.h"

namespace iter8::k8s {
namespace {

std::string VersionOf(const Json& object) {
  const Json* meta = object.contains("metadata") ? &object["metadata"] : nullptr;
  if (meta == nullptr || !meta->is_object()) return "";
  const auto it = meta->find("resourceVersion");
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<int64_t> AsInteger(const std::string& text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::string Field(const Json& object, const char* field) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  return object["metadata"].value(field, std::string());
}

}  // namespace

bool NewerVersion(const Json& a, const Json& b) {
  const std::string va = VersionOf(a);
  const std::string vb = VersionOf(b);
  const std::optional<int64_t> ia = AsInteger(va);
  const std::optional<int64_t> ib = AsInteger(vb);
  if (ia && ib) return *ia > *ib;
  return va != vb;
}

Informer::Informer(Client& client, Resource resource, InformerOptions options, OnChange on_change)
    : client_(client),
      resource_(std::move(resource)),
      options_(std::move(options)),
      on_change_(std::move(on_change)) {}

Informer::~Informer() { Stop(); }

absl::Status Informer::Start() {
  absl::Status listed = Relist();
  if (!listed.ok()) return listed;
  std::lock_guard<std::mutex> l(mu_);
  stopping_ = false;
  cancel_ = false;
  thread_ = std::thread(&Informer::Run, this);
  return absl::OkStatus();
}

void Informer::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cancel_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<Json> Informer::Get(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = cache_.find({ns, name});
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> Informer::List(const std::string& ns) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Json> out;
  if (ns.empty()) {
    out.reserve(cache_.size());
    for (const auto& [key, object] : cache_) out.push_back(object);
    return out;
  }
  for (auto it = cache_.lower_bound({ns, ""}); it != cache_.end() && it->first.first == ns; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<Json> Informer::ListPrefix(const std::string& ns, const std::string& prefix) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Json> out;
  for (auto it = cache_.lower_bound({ns, prefix});
       it != cache_.end() && it->first.first == ns && it->first.second.rfind(prefix, 0) == 0;
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

size_t Informer::Size() const {
  std::lock_guard<std::mutex> l(mu_);
  return cache_.size();
}

InformerStats Informer::Stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

std::optional<store::ChangeType> Informer::ApplyLocked(const std::string& type,
                                                       const Json& object) {
  const Key key{Field(object, "namespace"), Field(object, "name")};
  auto it = cache_.find(key);
  if (type == "DELETED") {
    if (it == cache_.end()) return std::nullopt;
    cache_.erase(it);
    return store::ChangeType::kDeleted;
  }
  if (it == cache_.end()) {
    cache_.emplace(key, object);
    return store::ChangeType::kAdded;
  }
  if (!NewerVersion(object, it->second)) return std::nullopt;  // seen already (or older)
  it->second = object;
  return store::ChangeType::kModified;
}

void Informer::Observe(const Json& object) {
  std::optional<store::ChangeType> change;
  {
    std::lock_guard<std::mutex> l(mu_);
    change = ApplyLocked("MODIFIED", object);
  }
  if (change && on_change_) on_change_(*change, object);
}

void Informer::Forget(const std::string& ns, const std::string& name) {
  Json stub = {{"metadata", {{"namespace", ns}, {"name", name}}}};
  std::optional<store::ChangeType> change;
  {
    std::lock_guard<std::mutex> l(mu_);
    change = ApplyLocked("DELETED", stub);
  }
  if (change && on_change_) on_change_(*change, stub);
}

absl::Status Informer::Relist() {
  std::string version;
  absl::StatusOr<std::vector<Json>> items =
      client_.List(resource_, options_.ns, &version, options_.label_selector);
  if (!items.ok()) return items.status();
  std::vector<std::pair<store::ChangeType, Json>> changes;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.lists;
    std::map<Key, Json> listed;
    for (Json& o : *items) {
      Key key{Field(o, "namespace"), Field(o, "name")};
      listed.emplace(std::move(key), std::move(o));
    }
    const Json list_version = {{"metadata", {{"resourceVersion", version}}}};
    for (auto it = cache_.begin(); it != cache_.end();) {
      // Gone from the list, unless this process wrote it after the list was taken.
      if (listed.count(it->first) == 0 && !NewerVersion(it->second, list_version)) {
        changes.emplace_back(store::ChangeType::kDeleted, it->second);
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [key, object] : listed) {
      if (std::optional<store::ChangeType> c = ApplyLocked("MODIFIED", object)) {
        changes.emplace_back(*c, object);
      }
    }
    resource_version_ = version;
  }
  if (on_change_) {
    for (const auto& [type, object] : changes) on_change_(type, object);
  }
  return absl::OkStatus();
}

void Informer::Run() {
  absl::Time next_resync = absl::Now() + options_.resync;
  auto wait = [this](absl::Duration d) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
    return !stopping_;
  };
  while (true) {
    std::string from;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      from = resource_version_;
      ++stats_.watches;
    }
    absl::Status s = client_.Watch(
        resource_, options_.ns, from,
        [this](const std::string& type, const Json& object) {
          std::optional<store::ChangeType> change;
          {
            std::lock_guard<std::mutex> l(mu_);
            if (stopping_) return false;
            const std::string v = VersionOf(object);
            if (!v.empty()) resource_version_ = v;
            if (type == "BOOKMARK") return true;
            ++stats_.events;
            change = ApplyLocked(type, object);
          }
          if (change && on_change_) on_change_(*change, object);
          return true;
        },
        options_.watch_timeout_seconds, options_.label_selector, &cancel_);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
    }
    if (absl::IsOutOfRange(s)) {
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.expired;
      }
      options_.log(StrCat("watch ", resource_.plural, ": ", s.message(), "; listing again"));
      absl::Status listed = Relist();
      if (!listed.ok()) {
        options_.log(StrCat("list ", resource_.plural, ": ", listed.message()));
        if (!wait(options_.retry)) return;
      }
      next_resync = absl::Now() + options_.resync;
    } else if (!s.ok()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.failures;
      }
      options_.log(StrCat("watch ", resource_.plural, ": ", s.message(), "; retrying"));
      if (!wait(options_.retry)) return;
    }
    if (absl::Now() >= next_resync) {
      absl::Status listed = Relist();
      if (!listed.ok()) options_.log(StrCat("resync ", resource_.plural, ": ", listed.message()));
      next_resync = absl::Now() + options_.resync;
    }
  }
}

}  // namespace iter8::k8s
