// libFuzzer target for the resource loaders: YAML/JSON text -> documents -> typed resources ->
// defaults, validation, describe, and back to YAML and JSON. Any crash, sanitizer report, hang
// or uncaught exception is a bug: bad input must come back as a Status.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analytics/builtin_hists.h"
#include "analytics/classic.h"
#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "cli/describe.h"
#include "proxy/route.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto docs = iter8::api::ParseDocuments(text, "fuzz");
  if (!docs.ok()) return 0;
  for (const auto& doc : *docs) {
    (void)doc.json.dump();  // must not throw: strings are valid UTF-8
    (void)iter8::api::ToYaml(doc.json);
    (void)iter8::proxy::ParseRoute(doc.json);  // Route resources: errors, never a crash
    auto r = iter8::api::LoadResource(doc);
    if (!r.ok()) continue;
    std::visit(
        [](auto& res) {
          iter8::api::Json j = iter8::api::EncodeResource(res);
          (void)iter8::api::ToYaml(j);
          iter8::api::ApplyDefaults(&res);
          (void)iter8::api::Validate(res);
          if constexpr (std::is_same_v<std::decay_t<decltype(res)>, iter8::api::Experiment>) {
            (void)iter8::cli::Describe(res, iter8::cli::DescribeFormatFor(res));
            // Analytics on whatever the document holds: the recorded values, or the builtin
            // metrics derived from collected histograms.
            iter8::api::AggregatedMetricsAnalysis aggregated;
            if (res.status.analysis) {
              if (res.status.analysis->aggregated_metrics) {
                aggregated = *res.status.analysis->aggregated_metrics;
              }
              auto builtin =
                  iter8::analytics::BuiltinMetrics(res.status.analysis->aggregated_builtin_hists);
              if (builtin.ok()) aggregated = *builtin;
            }
            iter8::SequenceRandom random({0.25, 0.75});
            (void)iter8::analytics::ClassicEngine().Analyze({res, aggregated}, random);
          }
        },
        *r);
  }
  return 0;
}
