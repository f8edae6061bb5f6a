#include "store/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <random>

#include "absl/time/clock.h"
#include "api/codec.h"
#include "common/strings.h"

namespace iter8::store {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS objects(
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  revision INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY(kind, namespace, name));
CREATE TABLE IF NOT EXISTS changes(
  revision INTEGER PRIMARY KEY AUTOINCREMENT, type INTEGER NOT NULL,
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(
  namespace TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL, iteration INTEGER NOT NULL,
  written INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY(namespace, name, uid, iteration));
)sql";

std::string NewUid() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// Runs `fn` turning SQLite exceptions (from the third-party wrapper) into a Status.
template <typename Fn>
auto Guard(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_BUSY || e.getErrorCode() == SQLITE_LOCKED) {
      return absl::UnavailableError(StrCat("store: database busy: ", e.what()));
    }
    return absl::InternalError(StrCat("store: ", e.what()));
  } catch (const api::Json::exception& e) {
    return absl::InternalError(StrCat("store: corrupt object: ", e.what()));
  }
}

int64_t AppendChange(SQLite::Database& db, ChangeType type, const ObjectKey& key) {
  SQLite::Statement st(db, "INSERT INTO changes(type, kind, namespace, name) VALUES(?,?,?,?)");
  st.bind(1, static_cast<int>(type));
  st.bind(2, key.kind);
  st.bind(3, key.namespace_);
  st.bind(4, key.name);
  st.exec();
  return db.getLastInsertRowid();
}

}  // namespace

std::string ObjectKey::String() const { return StrCat(kind, " ", namespace_, "/", name); }

absl::StatusOr<std::vector<api::Json>> ResourceStore::ListPrefix(const std::string& kind,
                                                                 const std::string& ns,
                                                                 const std::string& prefix) {
  absl::StatusOr<std::vector<api::Json>> all = List(kind, ns);
  if (!all.ok()) return all.status();
  std::vector<api::Json> out;
  for (api::Json& o : *all) {
    const std::string name = o["metadata"].value("name", std::string());
    if (name.rfind(prefix, 0) == 0) out.push_back(std::move(o));
  }
  return out;
}

absl::StatusOr<ObjectKey> KeyOf(const api::Json& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("object: not a JSON object");
  ObjectKey key;
  auto kind = object.find("kind");
  if (kind == object.end() || !kind->is_string() || kind->get<std::string>().empty()) {
    return absl::InvalidArgumentError("/kind: required");
  }
  key.kind = kind->get<std::string>();
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return absl::InvalidArgumentError("/metadata: required");
  }
  auto name = meta->find("name");
  if (name == meta->end() || !name->is_string() || name->get<std::string>().empty()) {
    return absl::InvalidArgumentError("/metadata/name: required");
  }
  key.name = name->get<std::string>();
  auto ns = meta->find("namespace");
  key.namespace_ = ns != meta->end() && ns->is_string() && !ns->get<std::string>().empty()
                       ? ns->get<std::string>()
                       : "default";
  return key;
}

SqliteStore::SqliteStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
SqliteStore::~SqliteStore() = default;

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  return Guard([&]() -> absl::StatusOr<std::unique_ptr<SqliteStore>> {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, 5000);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    db->exec(kSchema);
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db)));
  });
}

absl::StatusOr<api::Json> SqliteStore::Get(const ObjectKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::StatusOr<api::Json> {
    SQLite::Statement st(*db_, "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?");
    st.bind(1, key.kind);
    st.bind(2, key.namespace_);
    st.bind(3, key.name);
    if (!st.executeStep()) return absl::NotFoundError(StrCat(key.String(), " not found"));
    return api::Json::parse(st.getColumn(0).getString());
  });
}

absl::StatusOr<std::vector<api::Json>> SqliteStore::List(const std::string& kind,
                                                         const std::string& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::StatusOr<std::vector<api::Json>> {
    SQLite::Statement st(*db_, ns.empty() ? "SELECT body FROM objects WHERE kind=? "
                                            "ORDER BY namespace, name"
                                          : "SELECT body FROM objects WHERE kind=? AND namespace=? "
                                            "ORDER BY namespace, name");
    st.bind(1, kind);
    if (!ns.empty()) st.bind(2, ns);
    std::vector<api::Json> out;
    while (st.executeStep()) out.push_back(api::Json::parse(st.getColumn(0).getString()));
    return out;
  });
}

absl::StatusOr<api::Json> SqliteStore::WriteObject(const api::Json& object, Write mode) {
  absl::StatusOr<ObjectKey> key = KeyOf(object);
  if (!key.ok()) return key.status();
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::StatusOr<api::Json> {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement get(*db_,
                          "SELECT body, revision FROM objects "
                          "WHERE kind=? AND namespace=? AND name=?");
    get.bind(1, key->kind);
    get.bind(2, key->namespace_);
    get.bind(3, key->name);
    const bool exists = get.executeStep();
    api::Json stored = exists ? api::Json::parse(get.getColumn(0).getString()) : api::Json();
    const int64_t stored_rv = exists ? get.getColumn(1).getInt64() : 0;
    get.reset();

    api::Json out;
    if (mode == Write::kCreate) {
      if (exists) return absl::AlreadyExistsError(StrCat(key->String(), " already exists"));
      out = object;
      out["metadata"]["namespace"] = key->namespace_;
      out["metadata"]["uid"] = NewUid();
      out["metadata"]["creationTimestamp"] = api::FormatRfc3339(absl::Now());
      out["metadata"]["generation"] = 1;
    } else {
      if (!exists) return absl::NotFoundError(StrCat(key->String(), " not found"));
      const api::Json& meta = object["metadata"];
      auto rv = meta.find("resourceVersion");
      if (rv != meta.end() && !(rv->is_string() && rv->get<std::string>().empty())) {
        if (!rv->is_string() || rv->get<std::string>() != StrCat(stored_rv)) {
          return absl::AbortedError(
              StrCat("Operation cannot be fulfilled on ", key->String(), ": ", kConflictMessage));
        }
      }
      if (mode == Write::kUpdate) {
        out = object;
        if (stored.contains("status")) {
          out["status"] = stored["status"];
        } else {
          out.erase("status");
        }
        for (const char* kept : {"uid", "creationTimestamp"}) {
          if (stored["metadata"].contains(kept)) out["metadata"][kept] = stored["metadata"][kept];
        }
        api::Json a = object, b = stored;
        a.erase("status");
        b.erase("status");
        a["metadata"].erase("resourceVersion");
        b["metadata"].erase("resourceVersion");
        a["metadata"].erase("generation");
        b["metadata"].erase("generation");
        a["metadata"].erase("uid");
        b["metadata"].erase("uid");
        a["metadata"].erase("creationTimestamp");
        b["metadata"].erase("creationTimestamp");
        const int64_t gen = stored["metadata"].value("generation", int64_t{1});
        const bool spec_changed = a.value("spec", api::Json()) != b.value("spec", api::Json());
        out["metadata"]["generation"] = spec_changed ? gen + 1 : gen;
        if (a == b) return stored;  // no-op update: no new revision, no event
      } else {
        out = stored;
        if (object.contains("status")) {
          out["status"] = object["status"];
        } else {
          out.erase("status");
        }
        if (out == stored) return stored;
      }
      out["metadata"]["namespace"] = key->namespace_;
    }
    const int64_t revision = AppendChange(
        *db_, mode == Write::kCreate ? ChangeType::kAdded : ChangeType::kModified, *key);
    out["metadata"]["resourceVersion"] = StrCat(revision);
    SQLite::Statement put(*db_,
                          "INSERT OR REPLACE INTO objects(kind, namespace, name, revision, body) "
                          "VALUES(?,?,?,?,?)");
    put.bind(1, key->kind);
    put.bind(2, key->namespace_);
    put.bind(3, key->name);
    put.bind(4, static_cast<int64_t>(revision));
    put.bind(5, out.dump());
    put.exec();
    tx.commit();
    return out;
  });
}

absl::StatusOr<api::Json> SqliteStore::Create(const api::Json& object) {
  return WriteObject(object, Write::kCreate);
}
absl::StatusOr<api::Json> SqliteStore::Update(const api::Json& object) {
  return WriteObject(object, Write::kUpdate);
}
absl::StatusOr<api::Json> SqliteStore::UpdateStatus(const api::Json& object) {
  return WriteObject(object, Write::kStatus);
}

absl::Status SqliteStore::Delete(const ObjectKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::Status {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement del(*db_, "DELETE FROM objects WHERE kind=? AND namespace=? AND name=?");
    del.bind(1, key.kind);
    del.bind(2, key.namespace_);
    del.bind(3, key.name);
    if (del.exec() == 0) return absl::NotFoundError(StrCat(key.String(), " not found"));
    AppendChange(*db_, ChangeType::kDeleted, key);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Change>> SqliteStore::Changes(int64_t after, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::StatusOr<std::vector<Change>> {
    SQLite::Statement st(*db_,
                         "SELECT revision, type, kind, namespace, name FROM changes "
                         "WHERE revision > ? ORDER BY revision LIMIT ?");
    st.bind(1, static_cast<int64_t>(after));
    st.bind(2, limit);
    std::vector<Change> out;
    while (st.executeStep()) {
      Change c;
      c.revision = st.getColumn(0).getInt64();
      c.type = static_cast<ChangeType>(st.getColumn(1).getInt());
      c.key = {st.getColumn(2).getString(), st.getColumn(3).getString(),
               st.getColumn(4).getString()};
      out.push_back(std::move(c));
    }
    return out;
  });
}

absl::StatusOr<int64_t> SqliteStore::Revision() {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::StatusOr<int64_t> {
    SQLite::Statement st(*db_, "SELECT COALESCE(MAX(revision), 0) FROM changes");
    st.executeStep();
    return st.getColumn(0).getInt64();
  });
}

absl::Status SqliteStore::PutRecord(const std::string& ns, const std::string& name,
                                    const std::string& uid, int64_t iteration,
                                    const api::Json& record) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::Status {
    SQLite::Statement st(*db_,
                         "INSERT OR REPLACE INTO records(namespace, name, uid, iteration, "
                         "written, body) VALUES(?,?,?,?,"
                         "COALESCE((SELECT MAX(written) FROM records), 0) + 1,?)");
    st.bind(1, ns);
    st.bind(2, name);
    st.bind(3, uid);
    st.bind(4, static_cast<int64_t>(iteration));
    st.bind(5, record.dump());
    st.exec();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<api::Json>> SqliteStore::Records(const std::string& ns,
                                                            const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guard([&]() -> absl::StatusOr<std::vector<api::Json>> {
    SQLite::Statement st(*db_,
                         "SELECT body FROM records WHERE namespace=?1 AND name=?2 AND uid = "
                         "(SELECT uid FROM records WHERE namespace=?1 AND name=?2 "
                         " ORDER BY written DESC LIMIT 1) ORDER BY iteration");
    st.bind(1, ns);
    st.bind(2, name);
    std::vector<api::Json> out;
    while (st.executeStep()) out.push_back(api::Json::parse(st.getColumn(0).getString()));
    return out;
  });
}

}  // namespace iter8::store
