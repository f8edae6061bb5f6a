// File: test/apiserver/test_apiserver.h
//
// The in-tree TEST API server: a stand-in for the Kubernetes API server, for tests only (there
// is no Kubernetes on these machines). It is not Kubernetes; it enforces the parts of the API's
// semantics that iter8's controller and kubectl rely on, so that they can be tested for real:
//
//  - discovery (/version, /api, /apis, /api/v1, /apis/<group>[/<version>]) for the built-in
//    kinds it serves (Namespace, Secret, ConfigMap, Event, ServiceAccount, Lease,
//    CustomResourceDefinition; Deployment and RBAC kinds stored without semantics, so that
//    deploy manifests apply) and for every kind a created CRD defines;
//  - get, list (limit/continue pagination, labelSelector k=v), create (201, 409 AlreadyExists,
//    generateName), update (resourceVersion required for custom resources, 409 Conflict when
//    stale), JSON patch and merge patch (422 when the patch cannot apply, 415 for strategic
//    merge patch on custom resources), delete; metadata uid, creationTimestamp, generation
//    (bumped when spec changes) and a cluster-wide resourceVersion on every write;
//  - the status subresource: writes to the object ignore status, writes to /status change only
//    status (for kinds whose CRD declares it);
//  - watch: a chunked stream of {type, object} lines from a resourceVersion, BOOKMARK events when
//    asked (allowWatchBookmarks), an ERROR event with a 410 Expired Status when the version is
//    older than the kept history, timeoutSeconds;
//  - errors as Status objects (400, 404, 409, 410, 415, 422, 500) like the real server's;
//  - OpenAPI documents (/openapi/v2 in JSON, /openapi/v3 and its per-group-version documents;
//    openapi.h) built from the built-in kinds' minimal schemas and every served CRD version's
//    openAPIV3Schema, so that kubectl's default validation (`--validate=strict`) works: it
//    finds the `fieldValidation` parameter and leaves validation to the server;
//  - server-side field validation and pruning (schema.h): `fieldValidation=Strict|Warn|Ignore`
//    (Warn by default) on create, update and patch; unknown fields (per the structural schema
//    of the request's version, `x-kubernetes-preserve-unknown-fields` and ObjectMeta) and
//    duplicate JSON keys are rejected with the real server's `strict decoding error`, returned
//    as `Warning` headers, or ignored; unknown fields are never stored;
//  - CRD versions and conversion (conversion.h): objects are stored in the storage version; a
//    CRD with `conversion.strategy: Webhook` has every read and write in another version
//    converted by calling its webhook over HTTPS (verified with `caBundle`), with the real
//    server's 500 errors when the webhook is down, slow or answers badly; Services resolve to
//    their Endpoints object (Service and Endpoints kinds are stored).
//
// Not enforced: authentication, admission, CRD schema value validation (types, enums,
// required), field selectors, server-side apply, protobuf (an OpenAPI v2 request for protobuf
// only gets 406; kubectl then uses the v3 documents).
//
// Fault injection for tests: the next N requests fail with a code, all open watches are
// dropped, the event history is compacted (so resuming watches get 410).
//
// Thread-safe: requests are served on a pool of threads; every public method may be called from
// any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iter8::testing {

struct TestApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;         // 0: any free port
  int threads = 64;     // each open watch holds one
  int history = 10000;  // events kept for watch resumption
  int bookmark_interval_ms = 1000;
  // How long a conversion webhook may take (the real server's is 30 s).
  absl::Duration conversion_timeout = absl::Seconds(30);
};

class TestApiServer {
 public:
  explicit TestApiServer(TestApiServerOptions options = {});
  ~TestApiServer();
  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  absl::Status Start();
  void Stop();
  int port() const;
  std::string Url() const;  // http://host:port
  // A kubeconfig (YAML) whose current context points at this server without credentials.
  std::string Kubeconfig() const;

  // Fault injection.
  void FailNextRequests(int count, int code);  // watches excepted
  // Only creates, updates, patches and deletes fail (e.g. 409: a real server answers a GET
  // with 409 never, a write whenever another writer got there first).
  void FailNextWrites(int count, int code);
  void DropWatches();
  // While true, watch requests get 503 (a restarting server); with DropWatches and
  // CompactHistory it makes clients resume from a compacted version (410 Gone).
  void RefuseWatches(bool refuse);
  void CompactHistory();
  // Requests served so far (by method), for tests that count API calls.
  int64_t Requests() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace iter8::testing
