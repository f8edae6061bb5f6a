#include "cli/describe.h"

#include <optional>
#include <vector>

#include "cli/table.h"
#include "common/strings.h"

namespace iter8::cli {
namespace {

using api::Experiment;
using api::TestingPattern;

constexpr int kDecimals = 3;

// A table header: the row label's title, then one column per version.
std::vector<std::string> Header(const std::string& first,
                                const std::vector<std::string>& versions) {
  std::vector<std::string> header = {first};
  header.insert(header.end(), versions.begin(), versions.end());
  return header;
}

std::optional<api::Quantity> MetricValue(const Experiment& e, const std::string& metric,
                                         const std::string& version) {
  const auto& analysis = e.status.analysis;
  if (!analysis || !analysis->aggregated_metrics) return std::nullopt;
  const auto& data = analysis->aggregated_metrics->data;
  auto m = data.find(metric);
  if (m == data.end()) return std::nullopt;
  auto v = m->second.data.find(version);
  if (v == m->second.data.end()) return std::nullopt;
  return v->second.value;
}

std::string ObjectiveLabel(const api::Objective& o) {
  std::string label;
  if (o.lower_limit) label += o.lower_limit->ToFixedCeil(kDecimals) + " <= ";
  label += o.metric;
  if (o.upper_limit) label += " <= " + o.upper_limit->ToFixedCeil(kDecimals);
  return label;
}

bool HasObjectiveTable(const Experiment& e) {
  return e.spec.criteria && !e.spec.criteria->objectives.empty() && e.status.analysis &&
         e.status.analysis->version_assessments;
}

std::string ObjectiveTable(const Experiment& e) {
  const std::vector<std::string> versions = api::VersionNames(e.spec);
  Table t(Header("Objective", versions));
  const auto& assessments = e.status.analysis->version_assessments->data;
  const auto& objectives = e.spec.criteria->objectives;
  for (size_t i = 0; i < objectives.size(); ++i) {
    std::vector<std::string> row = {ObjectiveLabel(objectives[i])};
    for (const auto& v : versions) {
      auto it = assessments.find(v);
      if (it != assessments.end() && i < it->second.size()) {
        row.push_back(it->second[i] ? "true" : "false");
      } else {
        row.push_back("unavailable");
      }
    }
    t.AddRow(row);
  }
  return t.Render();
}

bool HasMetricsTable(const Experiment& e) {
  return e.status.analysis && e.status.analysis->aggregated_metrics;
}

std::string MetricsTable(const Experiment& e) {
  const std::vector<std::string> versions = api::VersionNames(e.spec);
  Table t(Header("Metric", versions));
  for (const auto& info : e.status.metrics) {
    std::string label = info.name;
    if (!info.metric_obj.spec.units.empty()) label += " (" + info.metric_obj.spec.units + ")";
    std::vector<std::string> row = {label};
    for (const auto& v : versions) {
      auto value = MetricValue(e, info.name, v);
      row.push_back(value ? value->ToFixedCeil(kDecimals) : "unavailable");
    }
    t.AddRow(row);
  }
  return t.Render();
}

std::string RewardTable(const Experiment& e) {
  const std::vector<std::string> versions = api::VersionNames(e.spec);
  Table t(Header("Reward", versions));
  for (const auto& reward : e.spec.criteria->rewards) {
    bool high = reward.preferred_direction == api::PreferredDirection::kHigh;
    std::vector<std::string> row = {reward.metric +
                                    (high ? " (higher better)" : " (lower better)")};
    std::optional<size_t> best;
    std::optional<api::Quantity> best_value;
    std::vector<std::optional<api::Quantity>> values;
    for (size_t i = 0; i < versions.size(); ++i) {
      values.push_back(MetricValue(e, reward.metric, versions[i]));
      const auto& v = values.back();
      if (!v) continue;
      if (!best_value || (high ? *v > *best_value : *v < *best_value)) {
        best = i;
        best_value = v;
      }
    }
    for (size_t i = 0; i < versions.size(); ++i) {
      if (!values[i]) {
        row.push_back("unavailable");
      } else {
        row.push_back(values[i]->ToFixedCeil(kDecimals) + (best == i ? " *" : ""));
      }
    }
    t.AddRow(row);
  }
  return t.Render();
}

std::string DescribeV2alpha2(const Experiment& e) {
  std::string out;
  const TestingPattern pattern = e.spec.strategy.testing_pattern;
  out += "\n****** Overview ******\n";
  out += StrCat("Experiment name: ", e.metadata.name, "\n");
  out += StrCat("Experiment namespace: ", e.metadata.namespace_, "\n");
  out += StrCat("Target: ", e.spec.target, "\n");
  out += StrCat("Testing pattern: ", api::ToString(pattern), "\n");
  out += StrCat("Deployment pattern: ",
                api::ToString(e.spec.strategy.deployment_pattern.value_or(
                    api::DeploymentPattern::kProgressive)),
                "\n");
  out += "\n****** Progress Summary ******\n";
  if (e.status.stage) out += StrCat("Experiment stage: ", api::ToString(*e.status.stage), "\n");
  const int32_t completed = e.status.completed_iterations.value_or(0);
  out += StrCat("Number of completed iterations: ", completed, "\n");
  if (completed <= 0) return out;

  const auto& analysis = e.status.analysis;
  if (analysis && analysis->winner_assessment) {
    out += "\n****** Winner Assessment ******\n";
    if (pattern == TestingPattern::kCanary) {
      out +=
          "> If the candidate version satisfies the experiment objectives, then it is the "
          "winner.\n"
          "> Otherwise, if the baseline version satisfies the experiment objectives, it is the "
          "winner.\n"
          "> Otherwise, there is no winner.\n";
    } else if (pattern == TestingPattern::kConformance) {
      out +=
          "> If the version being validated; i.e., the baseline version, satisfies the "
          "experiment objectives, it is the winner.\n"
          "> Otherwise, there is no winner.\n";
    }
    if (pattern != TestingPattern::kConformance && e.spec.version_info) {
      out += StrCat("App versions in this experiment: [", StrJoin(api::VersionNames(e.spec), " "),
                    "]\n");
    }
    const auto& w = analysis->winner_assessment->data;
    out += StrCat("Winning version: ", w.winner_found ? w.winner : "not found", "\n");
    if (pattern != TestingPattern::kConformance &&
        !e.status.version_recommended_for_promotion.empty()) {
      out += StrCat(
          "Version recommended for promotion: ", e.status.version_recommended_for_promotion, "\n");
    }
  }
  if (e.spec.criteria && !e.spec.criteria->rewards.empty() && analysis &&
      analysis->version_assessments) {
    out += "\n****** Reward Assessment ******\n";
    out +=
        "> Identifies values of reward metrics for each version. The best version is marked "
        "with a '*'.\n";
    out += RewardTable(e);
  }
  if (HasObjectiveTable(e)) {
    out += "\n****** Objective Assessment ******\n";
    out +=
        "> Identifies whether or not the experiment objectives are satisfied by the most "
        "recently observed metrics values for each version.\n";
    out += ObjectiveTable(e);
  }
  if (HasMetricsTable(e)) {
    out += "\n****** Metrics Assessment ******\n";
    out += "> Most recently read values of experiment metrics for each version.\n";
    out += MetricsTable(e);
  }
  return out;
}

std::string DescribeV2alpha1(const Experiment& e) {
  std::string out;
  out += "******\n";
  out += StrCat("Experiment name: ", e.metadata.name, "\n");
  out += StrCat("Experiment namespace: ", e.metadata.namespace_, "\n");
  out += StrCat("Experiment target: ", e.spec.target, "\n");
  out += "\n******\n";
  const int32_t completed = e.status.completed_iterations.value_or(0);
  out += StrCat("Number of completed iterations: ", completed, "\n");
  if (completed <= 0) return out;
  const auto& analysis = e.status.analysis;
  out += "\n******\n";
  bool found =
      analysis && analysis->winner_assessment && analysis->winner_assessment->data.winner_found;
  out += StrCat("Winning version: ", found ? analysis->winner_assessment->data.winner : "not found",
                "\n");
  if (HasObjectiveTable(e)) {
    out += "\n******\nObjectives\n";
    out += ObjectiveTable(e);
  }
  if (HasMetricsTable(e)) {
    out += "\n******\nMetrics\n";
    out += MetricsTable(e);
  }
  return out;
}

}  // namespace

DescribeFormat DescribeFormatFor(const api::Experiment& experiment) {
  return experiment.v2alpha1 ? DescribeFormat::kV2alpha1 : DescribeFormat::kV2alpha2;
}

std::string Describe(const api::Experiment& experiment, DescribeFormat format) {
  std::string report = format == DescribeFormat::kV2alpha1 ? DescribeV2alpha1(experiment)
                                                           : DescribeV2alpha2(experiment);
  return report + "\n";
}

}  // namespace iter8::cli
