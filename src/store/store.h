// File: store/store.h
//
// Where resources live. `ResourceStore` is the small interface the controller and the CLI use
// (get, list, create, update, update status, delete, and a change feed); local mode implements
// it with SQLite (store/sqlite_store.h), cluster mode with the Kubernetes API.
//
// Resources are JSON objects with `apiVersion`, `kind`, `metadata.{namespace,name}`; the store
// does not interpret kinds beyond that. Semantics follow the Kubernetes API where they matter:
//  - `metadata.resourceVersion` is set by the store on every write; an update whose object
//    carries a resourceVersion different from the stored one is refused (kAborted, "the object
//    has been modified; please apply your changes to the latest version and try again");
//    an update without a resourceVersion is unconditional;
//  - `Update` replaces everything but `status`; `UpdateStatus` replaces only `status`;
//  - `metadata.uid` and `metadata.creationTimestamp` are set on create and kept;
//  - every write appends to a change feed with a global, increasing revision, so a watcher in
//    this or another process sees every change in order (`Changes`).
//
// Errors: kNotFound, kAlreadyExists, kAborted (conflict), kInvalidArgument (malformed object),
// kUnavailable / kInternal (the database).
//
// Implementations are thread-safe unless they say otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/types.h"

namespace iter8::store {

struct ObjectKey {
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string String() const;  // "Kind ns/name"
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
};

enum class ChangeType { kAdded, kModified, kDeleted };

struct Change {
  int64_t revision = 0;
  ChangeType type = ChangeType::kModified;
  ObjectKey key;
};

inline constexpr char kConflictMessage[] =
    "the object has been modified; please apply your changes to the latest version and try again";

class ResourceStore {
 public:
  virtual ~ResourceStore() = default;

  virtual absl::StatusOr<api::Json> Get(const ObjectKey& key) = 0;
  // Objects of `kind` in `namespace_` (empty = every namespace), ordered by namespace, name.
  virtual absl::StatusOr<std::vector<api::Json>> List(const std::string& kind,
                                                      const std::string& ns) = 0;
  // Objects of `kind` in `namespace_` whose name starts with `prefix`, in name order. The
  // default filters List; stores with an ordered index answer it without the rest.
  virtual absl::StatusOr<std::vector<api::Json>> ListPrefix(const std::string& kind,
                                                            const std::string& ns,
                                                            const std::string& prefix);
  virtual absl::StatusOr<api::Json> Create(const api::Json& object) = 0;
  virtual absl::StatusOr<api::Json> Update(const api::Json& object) = 0;
  virtual absl::StatusOr<api::Json> UpdateStatus(const api::Json& object) = 0;
  virtual absl::Status Delete(const ObjectKey& key) = 0;

  // Changes with a revision greater than `after`, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<Change>> Changes(int64_t after, int limit) = 0;
  // The newest revision (0 for an empty store).
  virtual absl::StatusOr<int64_t> Revision() = 0;
};

// Where the controller keeps an experiment's decision records (one per iteration of a run).
// Local mode: SqliteStore; cluster mode: the structured log (k8s/cluster_store.h).
class RecordStore {
 public:
  virtual ~RecordStore() = default;
  // Writing the same (experiment, run, iteration) again replaces the record.
  virtual absl::Status PutRecord(const std::string& ns, const std::string& name,
                                 const std::string& uid, int64_t iteration,
                                 const api::Json& record) = 0;
};

// The key of an object (kind, metadata.namespace (default "default"), metadata.name), or
// kInvalidArgument naming the missing field.
absl::StatusOr<ObjectKey> KeyOf(const api::Json& object);

}  // namespace iter8::store
