#include "analytics/analytics.h"

#include <cmath>

namespace iter8::analytics {

std::string_view ToString(Decision decision) {
  switch (decision) {
    case Decision::kContinue:
      return "continue";
    case Decision::kPromote:
      return "promote";
    case Decision::kRollback:
      return "rollback";
    case Decision::kEnd:
      return "end";
  }
  return "continue";
}

api::AggregatedMetricsAnalysis AggregatedFromEvidence(const EvidenceMap& evidence) {
  api::AggregatedMetricsAnalysis agg;
  for (const auto& [metric, versions] : evidence) {
    for (const auto& [version, ev] : versions) {
      api::AggregatedMetricsVersionData& d = agg.data[metric].data[version];
      if (ev.value && std::isfinite(*ev.value)) {
        absl::StatusOr<api::Quantity> q = api::Quantity::FromDouble(*ev.value);
        if (q.ok()) d.value = *q;
      }
      if (ev.count && *ev.count >= 0 && *ev.count <= 2147483647.0) {
        d.sample_size = static_cast<int32_t>(*ev.count);
      }
    }
  }
  return agg;
}

}  // namespace iter8::analytics
