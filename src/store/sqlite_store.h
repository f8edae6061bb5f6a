// File: store/sqlite_store.h
//
// The local-mode ResourceStore: one SQLite database file (WAL journal, so readers in other
// processes never block the writer), holding resources, the change feed, and the decision
// records of experiments.
//
// Tables: `objects(kind, namespace, name, revision, body)`, `changes(revision, type, kind,
// namespace, name)` and `records(namespace, name, uid, iteration, time, body)`. Every write is
// one transaction: the object and its change row commit together, so a crash (kill -9) loses
// either the whole write or nothing. Revisions come from the change feed's rowid, so they are
// global and increasing, like etcd's.
//
// Several processes may open the same file: writes are serialised by SQLite (busy timeout 5 s),
// and each process sees the others' changes through `Changes`.
//
// Thread-safe: one connection guarded by a mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/store.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): third-party name
class Database;
}

namespace iter8::store {

class SqliteStore final : public ResourceStore, public RecordStore {
 public:
  // Opens (creating if needed) the database at `path`; ":memory:" for a private in-memory one.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;

  absl::StatusOr<api::Json> Get(const ObjectKey& key) override;
  absl::StatusOr<std::vector<api::Json>> List(const std::string& kind,
                                              const std::string& ns) override;
  absl::StatusOr<api::Json> Create(const api::Json& object) override;
  absl::StatusOr<api::Json> Update(const api::Json& object) override;
  absl::StatusOr<api::Json> UpdateStatus(const api::Json& object) override;
  absl::Status Delete(const ObjectKey& key) override;
  absl::StatusOr<std::vector<Change>> Changes(int64_t after, int limit) override;
  absl::StatusOr<int64_t> Revision() override;

  // Decision records: one per (experiment, run uid, iteration); writing the same iteration
  // again replaces it (an iteration re-run after a crash is recorded once).
  absl::Status PutRecord(const std::string& ns, const std::string& name, const std::string& uid,
                         int64_t iteration, const api::Json& record) override;
  // Records of the experiment's latest run (by uid of the newest record), in iteration order.
  absl::StatusOr<std::vector<api::Json>> Records(const std::string& ns, const std::string& name);

 private:
  explicit SqliteStore(std::unique_ptr<SQLite::Database> db);
  enum class Write { kCreate, kUpdate, kStatus };
  absl::StatusOr<api::Json> WriteObject(const api::Json& object, Write mode);

  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;
};

}  // namespace iter8::store
