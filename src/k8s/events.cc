#include "k8s/events.h"

#include "absl/time/clock.h"
#include "api/codec.h"
#include "common/strings.h"

namespace iter8::k8s {

Json EventObject(const api::Experiment& e, const engine::Event& event, const std::string& component,
                 const std::string& host, absl::Time now) {
  const bool warning = event.reason.find("Fail") != std::string::npos ||
                       event.reason.find("Error") != std::string::npos ||
                       event.reason.find("Invalid") != std::string::npos;
  const std::string time = api::FormatRfc3339(now);
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata",
           {{"generateName", StrCat(e.metadata.name, ".")}, {"namespace", e.metadata.namespace_}}},
          {"involvedObject",
           {{"apiVersion", e.api_version},
            {"kind", "Experiment"},
            {"namespace", e.metadata.namespace_},
            {"name", e.metadata.name},
            {"uid", e.metadata.uid}}},
          {"reason", event.reason},
          {"message", event.message},
          {"type", warning ? "Warning" : "Normal"},
          {"source", {{"component", component}, {"host", host}}},
          {"reportingComponent", component},
          {"reportingInstance", host},
          {"firstTimestamp", time},
          {"lastTimestamp", time},
          {"count", 1}};
}

EventRecorder::EventRecorder(Client& client, std::string component, std::string host,
                             std::function<void(const std::string&)> log)
    : client_(client),
      component_(std::move(component)),
      host_(std::move(host)),
      log_(std::move(log)) {}

void EventRecorder::Record(const api::Experiment& e, const engine::Event& event) {
  absl::StatusOr<Resource> events = client_.Discover("v1", "Event");
  absl::Status s = events.status();
  if (events.ok()) {
    s = client_
            .Create(*events, e.metadata.namespace_,
                    EventObject(e, event, component_, host_, absl::Now()))
            .status();
  }
  if (!s.ok()) {
    log_(StrCat(e.metadata.namespace_, "/", e.metadata.name, ": event ", event.reason,
                " not recorded: ", s.message()));
  }
}

}  // namespace iter8::k8s
