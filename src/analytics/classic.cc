#include "analytics/classic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "api/validate.h"
#include "common/strings.h"

namespace iter8::analytics {
namespace {

using api::TestingPattern;

// The value of `metric` for `version`: nullopt + `why` when unavailable.
enum class Lookup { kValue, kNoMetric, kNoEntry, kNone };
Lookup Find(const api::AggregatedMetricsAnalysis& agg, const std::string& metric,
            const std::string& version, api::Quantity* out) {
  auto m = agg.data.find(metric);
  if (m == agg.data.end()) return Lookup::kNoMetric;
  auto v = m->second.data.find(version);
  if (v == m->second.data.end()) return Lookup::kNoEntry;
  if (!v->second.value) return Lookup::kNone;
  *out = *v->second.value;
  return Lookup::kValue;
}

bool IsPerformance(const api::Experiment& e) {
  return e.v2alpha1 && e.v2alpha1->strategy_type == "Performance";
}

api::VersionAssessmentAnalysis AssessVersions(const api::Experiment& e,
                                              const api::AggregatedMetricsAnalysis& agg) {
  api::VersionAssessmentAnalysis out;
  if (!e.spec.criteria || e.spec.criteria->objectives.empty()) return out;
  const auto& objectives = e.spec.criteria->objectives;
  const std::vector<std::string> versions = api::VersionNames(e.spec);
  for (const auto& v : versions) out.data[v] = std::vector<bool>(objectives.size(), false);
  Messages msgs;
  for (size_t i = 0; i < objectives.size(); ++i) {
    const api::Objective& obj = objectives[i];
    if (agg.data.find(obj.metric) == agg.data.end()) {
      msgs.warnings.push_back(
          StrCat("Aggregated metric object for ", obj.metric, " metric is unavailable."));
      continue;
    }
    for (const auto& v : versions) {
      api::Quantity value;
      switch (Find(agg, obj.metric, v, &value)) {
        case Lookup::kNoMetric:
        case Lookup::kNoEntry:
          msgs.warnings.push_back(
              StrCat("Value for ", obj.metric, " metric and ", v, " version is unavailable."));
          break;
        case Lookup::kNone:
          msgs.warnings.push_back(
              StrCat("Value for ", obj.metric, " metric and ", v, " version is None."));
          break;
        case Lookup::kValue:
          out.data[v][i] = !(obj.upper_limit && value > *obj.upper_limit) &&
                           !(obj.lower_limit && value < *obj.lower_limit);
          break;
      }
    }
  }
  out.message = msgs.Join();
  return out;
}

std::vector<std::string> Feasible(const std::vector<std::string>& versions,
                                  const api::VersionAssessmentAnalysis& va) {
  if (va.data.empty()) return versions;
  std::vector<std::string> out;
  for (const auto& v : versions) {
    auto it = va.data.find(v);
    if (it == va.data.end()) continue;
    if (std::all_of(it->second.begin(), it->second.end(), [](bool b) { return b; })) {
      out.push_back(v);
    }
  }
  return out;
}

void SetWinner(api::WinnerAssessmentAnalysis* was, const std::string& winner) {
  was->data.winner_found = true;
  was->data.winner = winner;
  was->data.best_versions = {winner};
}

api::WinnerAssessmentAnalysis AssessWinner(const api::Experiment& e,
                                           const api::AggregatedMetricsAnalysis& agg,
                                           const api::VersionAssessmentAnalysis& va) {
  api::WinnerAssessmentAnalysis was;
  const std::vector<std::string> versions = api::VersionNames(e.spec);
  const std::vector<std::string> feasible = Feasible(versions, va);
  auto is_feasible = [&](const std::string& v) {
    return std::find(feasible.begin(), feasible.end(), v) != feasible.end();
  };
  Messages msgs;
  if (IsPerformance(e)) {
    msgs.errors.push_back("performance tests cannot have winner assessments");
    was.message = msgs.Join();
    return was;
  }
  switch (e.spec.strategy.testing_pattern) {
    case TestingPattern::kConformance:
      if (!versions.empty() && is_feasible(versions[0])) {
        SetWinner(&was, versions[0]);
        msgs.infos.push_back("baseline satisfies all objectives");
        was.message = msgs.Join();
      }
      return was;
    case TestingPattern::kCanary:
      if (versions.size() > 1 && is_feasible(versions[1])) {
        SetWinner(&was, versions[1]);
        msgs.infos.push_back("candidate satisfies all objectives");
        was.message = msgs.Join();
      } else if (!versions.empty() && is_feasible(versions[0])) {
        SetWinner(&was, versions[0]);
        msgs.infos.push_back("baseline satisfies all objectives; candidate does not");
        was.message = msgs.Join();
      }
      return was;
    case TestingPattern::kAB:
    case TestingPattern::kABN:
      break;
  }
  if (!e.spec.criteria || e.spec.criteria->rewards.empty()) {
    msgs.warnings.push_back(
        "No reward metric in experiment. Winner assessment cannot be computed for ab or abn "
        "experiments without reward metric.");
    was.message = msgs.Join();
    return was;
  }
  const api::Reward& reward = e.spec.criteria->rewards[0];
  if (agg.data.find(reward.metric) == agg.data.end()) {
    msgs.warnings.push_back("reward metric values are not available");
    was.message = msgs.Join();
    return was;
  }
  const bool high = reward.preferred_direction == api::PreferredDirection::kHigh;
  std::optional<api::Quantity> top;  // nullopt = -inf (High) or +inf (Low)
  std::vector<std::string> best;
  if (feasible.empty()) msgs.infos.push_back("no version satisfies all objectives");
  for (const auto& v : feasible) {
    api::Quantity value;
    if (Find(agg, reward.metric, v, &value) != Lookup::kValue) {
      msgs.warnings.push_back(StrCat("reward value for feasible version ", v, " is not available"));
    } else if (top && value == *top) {
      best.push_back(v);
    } else if (!top || (high ? value > *top : value < *top)) {
      top = value;
      best = {v};
    }
  }
  was.data.best_versions = best;
  if (best.size() == 1) {
    was.data.winner_found = true;
    was.data.winner = best[0];
    msgs.infos.push_back("found unique winner");
  } else if (best.size() > 1) {
    msgs.infos.push_back("no unique winner; two or more feasible versions with same reward value");
  }
  was.message = msgs.Join();
  return was;
}

}  // namespace

std::vector<int32_t> GenRound(const std::vector<double>& weights, int32_t total, Random& random) {
  std::vector<int32_t> out;
  out.reserve(weights.size());
  int32_t remaining = total;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (i + 1 == weights.size()) {  // what is left, exactly (no float residue)
      out.push_back(remaining);
      break;
    }
    double sum = 0;
    for (size_t j = i; j < weights.size(); ++j) sum += weights[j];
    const double share = sum > 0 ? weights[i] / sum : 1.0 / static_cast<double>(weights.size() - i);
    const double x = share * remaining;
    const double floor = std::floor(x);
    const double frac = x - floor;
    int32_t r = static_cast<int32_t>(floor) + (random.Uniform() < frac ? 1 : 0);
    r = std::clamp(r, 0, remaining);
    out.push_back(r);
    remaining -= r;
  }
  return out;
}

AnalyticsOutput ClassicEngine::Analyze(const AnalyticsInput& input, Random& random) const {
  const api::Experiment& e = input.experiment;
  AnalyticsOutput out;
  out.version_assessments = AssessVersions(e, input.aggregated);
  out.winner_assessment = AssessWinner(e, input.aggregated, out.version_assessments);

  if (e.spec.strategy.testing_pattern == TestingPattern::kConformance || IsPerformance(e)) {
    out.weights.message = StrCat("weight computation is not applicable to a ",
                                 IsPerformance(e) ? "performance" : "conformance", " experiment");
    return out;
  }
  const std::vector<std::string> versions = api::VersionNames(e.spec);
  const size_t n = versions.size();
  if (n == 0) {
    out.weights.message = Messages{}.Join();
    return out;
  }
  const double explore_share = options_.exploration_traffic_percentage / 100.0;
  const auto& best = out.winner_assessment.data.best_versions;
  std::vector<double> mix(n);
  for (size_t i = 0; i < n; ++i) {
    double exploit;
    if (best.empty()) {
      exploit = i == 0 ? 1.0 : 0.0;
    } else {
      bool is_best = std::find(best.begin(), best.end(), versions[i]) != best.end();
      exploit = is_best ? 1.0 / static_cast<double>(best.size()) : 0.0;
    }
    mix[i] = 100.0 * (explore_share / static_cast<double>(n) + (1.0 - explore_share) * exploit);
  }
  std::vector<double> old(n, 0.0);
  const auto& current = e.status.current_weight_distribution;
  if (current.empty()) {
    old[0] = 100.0;
  } else if (options_.positional_previous_weights) {
    for (size_t i = 0; i < n && i < current.size(); ++i) old[i] = current[i].value;
  } else {
    for (size_t i = 0; i < n; ++i) {
      for (const auto& w : current) {
        if (w.name == versions[i]) old[i] = w.value;
      }
    }
  }
  std::vector<double> capped = mix;
  if (e.spec.strategy.weights) {
    const double max_inc = e.spec.strategy.weights->max_candidate_weight_increment.value_or(
        api::kDefaultMaxCandidateWeightIncrement);
    const double max_weight =
        e.spec.strategy.weights->max_candidate_weight.value_or(api::kDefaultMaxCandidateWeight);
    for (size_t i = 1; i < n; ++i) {
      const double excess = std::max({0.0, (mix[i] - old[i]) - max_inc, mix[i] - max_weight});
      capped[i] -= excess;
      capped[0] += excess;
    }
  }
  const std::vector<int32_t> rounded = GenRound(capped, 100, random);
  for (size_t i = 0; i < n; ++i) out.weights.data.push_back({versions[i], rounded[i], {}});
  Messages msgs;
  msgs.infos.push_back("all ok");
  out.weights.message = msgs.Join();
  return out;
}

std::string Messages::Join() const {
  return StrCat("Error: ", StrJoin(errors, ", "), "; Warning: ", StrJoin(warnings, ", "),
                "; Info: ", StrJoin(infos, ", "));
}

std::string MetricsBackendError(const std::string& metric, const std::string& version) {
  return StrCat("Error from metrics backend for metric: ", metric, std::string(29, ' '),
                "and version: ", version);
}

}  // namespace iter8::analytics
