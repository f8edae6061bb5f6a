// File: api/types.h
//
// The resource model every part of iter8 shares: Experiment and Metric of
// `iter8.tools/v2alpha2` (spec.md sections 1 and 2), with Kubernetes ObjectMeta, conditions and
// ObjectReference. `v2alpha1` resources are read into the same model (see api/convert.h).
//
// These are plain value types: no invariants beyond what the fields say, no I/O, freely
// copyable, and safe to share between threads when not mutated. Every struct keeps the fields
// it does not know in `extra` (a JSON object), so that reading and writing a resource never
// loses anything a user or another tool put there (`strength`, task `with` maps, managedFields).
//
// Optional fields use std::optional where "absent" and "zero" mean different things to the
// original system (e.g. a limit of 0 versus no limit); strings and lists use "empty = absent",
// as the original's Go `omitempty` does.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "api/quantity.h"

namespace iter8::api {

// JSON as the codecs produce it: objects keep the order of their keys.
using Json = nlohmann::ordered_json;

// `object[key]` when `object` is an object and that member is a string, else "". For reading
// user input: nlohmann's `value(key, "")` throws when the member has another type.
inline std::string StringField(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

inline constexpr char kGroup[] = "iter8.tools";
inline constexpr char kV2alpha2[] = "iter8.tools/v2alpha2";
inline constexpr char kV2alpha1[] = "iter8.tools/v2alpha1";

// ---------------------------------------------------------------- Kubernetes basics

struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string namespace_;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string resource_version;
  int64_t generation = 0;
  std::string uid;
  std::optional<absl::Time> creation_timestamp;
  std::optional<absl::Time> deletion_timestamp;
  Json extra = Json::object();  // managedFields, selfLink, finalizers, ownerReferences, ...
};

struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string field_path;
  std::string uid;
  std::string resource_version;
  Json extra = Json::object();
};

struct NamedValue {
  std::string name;
  std::string value;
  Json extra = Json::object();
};

// ---------------------------------------------------------------- Experiment spec

enum class TestingPattern { kCanary, kAB, kABN, kConformance };
enum class DeploymentPattern { kFixedSplit, kProgressive, kBlueGreen };
enum class PreferredDirection { kHigh, kLow };

struct VersionDetail {
  std::string name;
  std::vector<NamedValue> variables;
  std::optional<ObjectReference> weight_obj_ref;
  Json extra = Json::object();
};

struct VersionInfo {
  VersionDetail baseline;
  std::vector<VersionDetail> candidates;
  Json extra = Json::object();
};

struct TaskSpec {
  std::string task;
  std::string run;      // later iter8 (etc3 >= 0.1.30); kept for round trips
  std::string if_;      // likewise
  Json with = nullptr;  // task inputs, any JSON; null = absent
  Json extra = Json::object();
};

struct Weights {
  std::optional<int32_t> max_candidate_weight;
  std::optional<int32_t> max_candidate_weight_increment;
  Json extra = Json::object();
};

struct Strategy {
  TestingPattern testing_pattern = TestingPattern::kCanary;
  std::optional<DeploymentPattern> deployment_pattern;
  std::map<std::string, std::vector<TaskSpec>> actions;  // start, finish, loop
  std::optional<Weights> weights;
  Json extra = Json::object();
};

struct Reward {
  std::string metric;
  PreferredDirection preferred_direction = PreferredDirection::kHigh;
  Json extra = Json::object();
};

struct Objective {
  std::string metric;
  std::optional<Quantity> upper_limit;
  std::optional<Quantity> lower_limit;
  std::optional<bool> rollback_on_failure;  // JSON name `rollback_on_failure`
  Json extra = Json::object();
};

struct Criteria {
  std::string request_count;
  std::vector<Reward> rewards;
  std::vector<std::string> indicators;
  std::vector<Objective> objectives;
  Json strength = nullptr;  // reserved by the original; iter8 uses it to pick the engine
  Json extra = Json::object();
};

struct Duration {
  std::optional<int32_t> interval_seconds;
  std::optional<int32_t> iterations_per_loop;
  std::optional<int32_t> max_loops;
  Json extra = Json::object();
};

struct ExperimentSpec {
  std::string target;
  std::optional<VersionInfo> version_info;
  Strategy strategy;
  std::optional<Criteria> criteria;
  std::optional<Duration> duration;
  Json extra = Json::object();
};

// ---------------------------------------------------------------- Metric

enum class MetricType { kCounter, kGauge };
enum class HttpMethod { kGet, kPost };
enum class AuthType { kBasic, kBearer, kAPIKey };

struct NamedLevel {
  std::string name;
  Quantity level;
  Json extra = Json::object();
};

struct MetricSpec {
  std::string description;
  std::string units;
  std::string provider;
  std::optional<MetricType> type;  // default Gauge
  std::string sample_size;         // metric reference
  std::vector<NamedValue> params;
  std::optional<HttpMethod> method;  // default GET
  std::string body;
  std::vector<NamedValue> header_templates;
  std::optional<AuthType> auth_type;
  std::string secret;
  std::string url_template;
  std::string jq_expression;
  std::vector<NamedLevel> mock;
  Json extra = Json::object();
};

// How a Metric read as `iter8.tools/v2alpha1` spelled the fields that changed in v2alpha2, so
// it can be written back in the same form (api/convert.h).
struct V2alpha1MetricForm {
  bool params_map = false;          // params as a {name: value} map (early form)
  bool sample_size_object = false;  // sample_size / sampleSize as {namespace, name}
  std::string sample_size_key;      // "sample_size" (early) or "sampleSize"
  bool lower_case_type = false;     // type: counter | gauge
};

struct Metric {
  std::string api_version = kV2alpha2;
  std::string kind = "Metric";
  ObjectMeta metadata;
  MetricSpec spec;
  std::optional<V2alpha1MetricForm> v2alpha1;  // set when read from v2alpha1
  Json extra = Json::object();
};

// ---------------------------------------------------------------- Experiment status

// Condition types of v2alpha2 (the CRD's enum); v2alpha1 allowed any string.
inline constexpr char kConditionCompleted[] = "Completed";
inline constexpr char kConditionFailed[] = "Failed";
inline constexpr char kConditionTargetAcquired[] = "TargetAcquired";
enum class ConditionStatus { kTrue, kFalse, kUnknown };
enum class Stage { kWaiting, kInitializing, kRunning, kFinishing, kCompleted };

struct ExperimentCondition {
  std::string type;  // kConditionCompleted, kConditionFailed, kConditionTargetAcquired
  ConditionStatus status = ConditionStatus::kUnknown;
  std::optional<absl::Time> last_transition_time;
  std::string reason;
  std::string message;
  Json extra = Json::object();
};

struct VersionWeight {
  std::string name;
  int32_t value = 0;
  Json extra = Json::object();
};

// Common to the four analysis sections (flattened into each, as in the original's JSON).
struct AnalysisMetaData {
  std::string provenance;
  std::optional<absl::Time> timestamp;
  std::optional<std::string> message;
};

struct AggregatedMetricsVersionData {
  std::optional<Quantity> max;
  std::optional<Quantity> min;
  std::optional<Quantity> value;
  std::optional<int32_t> sample_size;
  Json extra = Json::object();
};

struct AggregatedMetricsData {
  std::optional<Quantity> max;
  std::optional<Quantity> min;
  std::map<std::string, AggregatedMetricsVersionData> data;  // version name -> data
  Json extra = Json::object();
};

struct AggregatedMetricsAnalysis : AnalysisMetaData {
  std::map<std::string, AggregatedMetricsData> data;  // metric reference -> data
  Json extra = Json::object();
};

struct VersionAssessmentAnalysis : AnalysisMetaData {
  std::map<std::string, std::vector<bool>> data;  // version -> objective i satisfied
  Json extra = Json::object();
};

struct WinnerAssessmentData {
  bool winner_found = false;
  std::string winner;
  std::vector<std::string> best_versions;
  Json extra = Json::object();
};

struct WinnerAssessmentAnalysis : AnalysisMetaData {
  WinnerAssessmentData data;
  Json extra = Json::object();
};

struct WeightsAnalysis : AnalysisMetaData {
  std::vector<VersionWeight> data;
  Json extra = Json::object();
};

struct Analysis {
  std::optional<AggregatedMetricsAnalysis> aggregated_metrics;
  std::optional<VersionAssessmentAnalysis> version_assessments;
  std::optional<WinnerAssessmentAnalysis> winner_assessment;
  std::optional<WeightsAnalysis> weights;
  Json aggregated_builtin_hists = nullptr;  // opaque, written by metrics/collect
  Json extra = Json::object();
};

struct MetricInfo {
  std::string name;  // the reference as written in the experiment
  Metric metric_obj;
  Json extra = Json::object();
};

struct ExperimentStatus {
  std::vector<ExperimentCondition> conditions;
  std::optional<absl::Time> init_time;
  std::optional<absl::Time> start_time;
  std::optional<absl::Time> last_update_time;
  std::optional<Stage> stage;
  std::optional<int32_t> completed_iterations;
  std::vector<VersionWeight> current_weight_distribution;
  std::optional<Analysis> analysis;
  std::string version_recommended_for_promotion;
  std::string message;
  std::vector<MetricInfo> metrics;
  Json extra = Json::object();
};

// Fields that exist only in `iter8.tools/v2alpha1`, kept so a v2alpha1 resource can be
// written back as it was read (api/convert.h). Empty for resources read as v2alpha2.
struct V2alpha1Fields {
  std::string strategy_type;           // early form: Canary, A/B, A/B/N, Performance, BlueGreen
  Json handlers = nullptr;             // strategy.handlers
  std::string algorithm;               // strategy.weights.algorithm (early form)
  Json weight_distribution = nullptr;  // strategy.weights.weightDistribution
  bool max_iterations = false;         // duration.maxIterations (early form)
  bool single_reward = false;          // criteria.reward instead of rewards
  bool tags = false;                   // version variables as a `tags` map (early form)
  bool metrics_in_spec = false;        // metrics copied into spec.metrics
  bool recommended_baseline = false;   // status.recommendedBaseline
  bool early_condition_types = false;  // ExperimentCompleted / ExperimentFailed
  Json end_time = nullptr;             // status.endTime
};

struct Experiment {
  std::string api_version = kV2alpha2;
  std::string kind = "Experiment";
  ObjectMeta metadata;
  ExperimentSpec spec;
  ExperimentStatus status;
  std::optional<V2alpha1Fields> v2alpha1;  // set when read from v2alpha1
  Json extra = Json::object();
};

// ---------------------------------------------------------------- enum names

std::string_view ToString(TestingPattern v);
std::string_view ToString(DeploymentPattern v);
std::string_view ToString(PreferredDirection v);
std::string_view ToString(MetricType v);
std::string_view ToString(HttpMethod v);
std::string_view ToString(AuthType v);
std::string_view ToString(ConditionStatus v);
std::string_view ToString(Stage v);

// True when the status has a condition of `type` whose status is True.
bool ConditionIsTrue(const ExperimentStatus& status, std::string_view type);

// All versions in the original's order: baseline first, then candidates.
std::vector<const VersionDetail*> AllVersions(const ExperimentSpec& spec);
// Their names, in the same order.
std::vector<std::string> VersionNames(const ExperimentSpec& spec);

}  // namespace iter8::api
