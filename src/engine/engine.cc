#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "analytics/builtin_hists.h"
#include "analytics/classic.h"
#include "analytics/sequential.h"
#include "api/strength.h"
#include "api/validate.h"
#include "common/strings.h"
#include "engine/v2alpha1.h"

namespace iter8::engine {
namespace {

using api::ConditionStatus;
using api::Experiment;
using api::ExperimentCondition;
using api::ExperimentStatus;
using api::Json;
using api::Stage;

constexpr absl::Duration kIterationSlack = absl::Milliseconds(100);

int StageRank(Stage s) { return static_cast<int>(s); }

// "start", "finish", ...: a handler type as v2alpha1's strategy.handlers keys spell it.
std::string TypeKey(HandlerType type) {
  std::string key(ToString(type));
  key[0] = static_cast<char>(key[0] - 'A' + 'a');
  return key;
}

absl::Time CeilSecond(absl::Time t) {
  const absl::Time floor = absl::FromUnixSeconds(absl::ToUnixSeconds(t));
  return floor == t ? t : floor + absl::Seconds(1);
}

// ---------------------------------------------------------------- conditions

ExperimentCondition* FindCondition(ExperimentStatus* s, std::string_view type) {
  for (auto& c : s->conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

// "objective i (metric) with rollback_on_failure is not met by version v" for the first such
// objective in `assessments`, every version including the baseline (spec.md 1.4); `e` defaulted.
std::optional<std::string> UnmetRollbackObjectiveImpl(const Experiment& e,
                                                      const api::VersionAssessmentAnalysis& a) {
  if (!e.spec.criteria) return std::nullopt;
  const auto& objectives = e.spec.criteria->objectives;
  for (size_t i = 0; i < objectives.size(); ++i) {
    if (!objectives[i].rollback_on_failure.value_or(false)) continue;
    for (const auto& [version, sat] : a.data) {
      if (i < sat.size() && !sat[i]) {
        return StrCat("objective ", i, " (", objectives[i].metric,
                      ") with rollback_on_failure is not met by version ", version);
      }
    }
  }
  return std::nullopt;
}

// The step being built: the working copy of the experiment (defaulted spec) and the result.
class Stepper {
 public:
  Stepper(const Experiment& stored, const Observations& obs, absl::Time now, Random& random)
      : e_(stored), obs_(obs), now_(now), random_(random) {
    api::ApplyDefaults(&e_);  // in memory only; the stored spec stays sparse (spec.md 1.1)
    result_.status = stored.status;
  }

  StepResult Run();

  ExperimentStatus& MutableStatus() { return result_.status; }
  StepResult& Result() { return result_; }

  // spec.md 1.6 recording helpers. Each sets status.message and lastTransitionTime; an event
  // is emitted only when the condition actually changed.
  void Record(std::string_view type, ConditionStatus cs, const std::string& reason,
              const std::string& message) {
    ExperimentCondition* c = FindCondition(&MutableStatus(), type);
    if (c == nullptr) {
      MutableStatus().conditions.push_back(
          {std::string(type), ConditionStatus::kUnknown, {}, "", "", {}});
      c = &MutableStatus().conditions.back();
    }
    const bool changed = c->status != cs || c->reason != reason || c->message != message;
    c->status = cs;
    c->reason = reason;
    c->message = message;
    c->last_transition_time = now_;
    MutableStatus().message = message.empty() ? reason : StrCat(reason, ": ", message);
    if (changed) result_.events.push_back({reason, message});
    result_.write_status = true;
  }
  void Progress(const std::string& reason, const std::string& message) {
    Record(api::kConditionCompleted, ConditionStatus::kFalse, reason, message);
  }
  void Failed(const std::string& reason, const std::string& message) {
    Record(api::kConditionFailed, ConditionStatus::kTrue, reason, message);
  }

  void AdvanceStage(Stage to) {
    const Stage from = MutableStatus().stage.value_or(Stage::kWaiting);
    if (StageRank(to) <= StageRank(from) && MutableStatus().stage) return;
    MutableStatus().stage = to;
    Progress(kReasonStageAdvanced, StrCat("Advanced to ", api::ToString(to)));
  }

  void EndExperiment(const std::string& message) {
    if (MutableStatus().stage != Stage::kCompleted) AdvanceStage(Stage::kCompleted);
    Record(api::kConditionCompleted, ConditionStatus::kTrue, kReasonExperimentCompleted, message);
    result_.release_target = true;
    result_.requeue_after.reset();
  }

  void FailExperiment(const std::string& reason, const std::string& message) {
    Failed(reason, message);
    EndExperiment("Experiment failed");
  }

  // finish and rollback share the `finish` action and handler name (spec.md 1.4).
  void Terminate(HandlerType type, const std::string& without_action) {
    if (!DryRun() && ActionOf(type)) {
      const std::string name = HandlerName(e_.metadata.name, type);
      if (HandlerStateOf(name) == HandlerState::kNotLaunched) {
        AdvanceStage(Stage::kFinishing);
        Launch(type);
      }
      return;
    }
    EndExperiment(without_action);
  }

  void Launch(HandlerType type, int loop = 0) {
    LaunchHandler l;
    l.type = type;
    l.loop = loop;
    l.action = ActionOf(type).value_or(ActionKey(type));
    l.name = HandlerName(e_.metadata.name, type, loop);
    result_.launch = l;
    const Json* v2alpha1 = V2alpha1Names();
    if (v2alpha1 == nullptr) {
      Progress(kReasonHandlerLaunched,
               StrCat(ToString(type), " handler '", l.action, "' launched"));
      return;
    }
    // The original's v2alpha1 messages name the handler (spec.md 1.9).
    Progress(
        type == HandlerType::kStart ? kReasonStartHandlerLaunched : kReasonTerminalHandlerLaunched,
        StrCat(ToString(type), " handler '", v2alpha1->value(TypeKey(type), l.action),
               "' launched"));
  }

  // The resolved v2alpha1 handler names (engine/v2alpha1.h), else null.
  const Json* V2alpha1Names() const {
    auto it = e_.spec.strategy.extra.find(kFieldV2alpha1Handlers);
    return it != e_.spec.strategy.extra.end() && it->is_object() ? &*it : nullptr;
  }

  // The action `type` runs, if any: ActionKey(type); for v2alpha1 experiments only handler types
  // that have a handler, and a rollback handler that differs from the finish one runs its own
  // action `rollback`.
  std::optional<std::string> ActionOf(HandlerType type) const {
    const auto& actions = e_.spec.strategy.actions;
    std::string key = ActionKey(type);
    if (const Json* names = V2alpha1Names()) {
      if (!names->contains(TypeKey(type))) return std::nullopt;
      if (type == HandlerType::kRollback && actions.count("rollback") > 0) key = "rollback";
    }
    if (actions.count(key) == 0) return std::nullopt;
    return key;
  }

  HandlerState HandlerStateOf(const std::string& name) const {
    auto it = obs_.handlers.find(name);
    return it == obs_.handlers.end() ? HandlerState::kNotLaunched : it->second;
  }

  bool DryRun() const {
    const Json& v = e_.spec.strategy.extra.contains(kFieldDryRun)
                        ? e_.spec.strategy.extra[kFieldDryRun]
                        : Json();
    return v.is_boolean() && v.get<bool>();
  }
  bool RequireApproval() const {
    const Json& v = e_.spec.strategy.extra.contains(kFieldRequireApproval)
                        ? e_.spec.strategy.extra[kFieldRequireApproval]
                        : Json();
    return v.is_boolean() && v.get<bool>();
  }
  std::string Annotation(const char* key) const {
    auto it = e_.metadata.annotations.find(key);
    return it == e_.metadata.annotations.end() ? "" : it->second;
  }

  // Weight distribution from raw reads (spec.md 1.5): a single version without a
  // weightObjRef gets 100 - sum(others).
  absl::StatusOr<std::vector<api::VersionWeight>> Distribution(
      const std::map<std::string, int32_t>& reads) const {
    std::vector<api::VersionWeight> out;
    if (!e_.spec.version_info) return out;
    std::vector<const api::VersionDetail*> versions = api::AllVersions(e_.spec);
    int missing = 0;
    int64_t sum = 0;
    for (const auto* v : versions) {
      const bool has_ref = v->weight_obj_ref && !v->weight_obj_ref->field_path.empty();
      if (!has_ref) {
        ++missing;
        continue;
      }
      auto it = reads.find(v->name);
      if (it == reads.end()) {
        return absl::InvalidArgumentError(StrCat("no weight was read for version ", v->name));
      }
      sum += it->second;
    }
    if (missing > 1 && DeploymentPattern() != api::DeploymentPattern::kFixedSplit) {
      return absl::InvalidArgumentError(
          "Unable to read version weights; insufficient number of weightObjectRef specified");
    }
    for (const auto* v : versions) {
      auto it = reads.find(v->name);
      const bool has_ref = v->weight_obj_ref && !v->weight_obj_ref->field_path.empty();
      if (has_ref && it != reads.end()) {
        out.push_back({v->name, it->second, {}});
      } else if (missing == 1) {
        out.push_back({v->name, static_cast<int32_t>(100 - sum), {}});
      }
    }
    return out;
  }

  // Weights read back through the weightObjRefs become currentWeightDistribution; a read
  // error or unusable refs fail the experiment (InvalidExperiment) and return false.
  bool TakeWeights(const absl::StatusOr<std::map<std::string, int32_t>>& reads) {
    absl::StatusOr<std::vector<api::VersionWeight>> dist =
        reads.ok() ? Distribution(*reads) : reads.status();
    if (!dist.ok()) {
      FailExperiment(
          kReasonInvalidExperiment,
          StrCat("Specification of version weightObjectRef invalid: ", dist.status().message()));
      return false;
    }
    std::vector<api::VersionWeight>& current = MutableStatus().current_weight_distribution;
    const bool same =
        current.size() == dist->size() &&
        std::equal(dist->begin(), dist->end(), current.begin(), [](const auto& a, const auto& b) {
          return a.name == b.name && a.value == b.value;
        });
    if (!same) {
      current = *std::move(dist);
      result_.write_status = true;
    }
    return true;
  }

  api::DeploymentPattern DeploymentPattern() const {
    return e_.spec.strategy.deployment_pattern.value_or(api::DeploymentPattern::kProgressive);
  }

 private:
  bool CheckHandlers();
  bool CheckVerbs();
  bool AcquireTarget();
  void DoIteration();
  void FinishExperiment();

  Experiment e_;  // defaulted copy
  const Observations& obs_;
  const absl::Time now_;
  Random& random_;
  StepResult result_;
};

StepResult NeedOnly(Need need) {
  StepResult r;
  r.need = need;
  return r;
}

// ---------------------------------------------------------------- the step

StepResult Stepper::Run() {
  // First sight.
  if (!MutableStatus().init_time) {
    ExperimentStatus s;
    s.extra = MutableStatus().extra;  // keeps a retry token across a reset
    result_.status = std::move(s);
    for (const char* type :
         {api::kConditionCompleted, api::kConditionFailed, api::kConditionTargetAcquired}) {
      MutableStatus().conditions.push_back({type, ConditionStatus::kFalse, {}, "", "", {}});
    }
    MutableStatus().init_time = now_;
    MutableStatus().last_update_time = now_;
    MutableStatus().stage = Stage::kWaiting;
    MutableStatus().completed_iterations = 0;
    Progress(kReasonExperimentInitialized, "Experiment status initialized");
    return std::move(result_);
  }

  if (api::ConditionIsTrue(MutableStatus(), api::kConditionCompleted)) {
    // retry: a new token restarts a completed experiment from scratch.
    const std::string token = Annotation(kAnnotationRetry);
    const Json& seen =
        MutableStatus().extra.contains(kStatusRetry) ? MutableStatus().extra[kStatusRetry] : Json();
    if (!token.empty() && !(seen.is_string() && seen.get<std::string>() == token)) {
      ExperimentStatus s;
      s.extra[kStatusRetry] = token;
      result_.status = std::move(s);
      result_.write_status = true;
      result_.forget_handlers = true;
      result_.events.push_back(
          {kReasonRetried, StrCat("Experiment restarted (retry ", token, ")")});
    }
    return std::move(result_);
  }

  if (!obs_.invalid.empty()) {
    FailExperiment(kReasonInvalidExperiment, obs_.invalid);
    return std::move(result_);
  }
  if (!CheckHandlers()) return std::move(result_);
  if (!CheckVerbs()) return std::move(result_);

  if (!AcquireTarget()) return std::move(result_);

  if (MutableStatus().stage.value_or(Stage::kWaiting) == Stage::kWaiting) {
    AdvanceStage(Stage::kInitializing);
    return std::move(result_);
  }

  if (!DryRun() && ActionOf(HandlerType::kStart) &&
      HandlerStateOf(HandlerName(e_.metadata.name, HandlerType::kStart)) ==
          HandlerState::kNotLaunched) {
    Launch(HandlerType::kStart);
    return std::move(result_);
  }

  const std::vector<std::string> refs = MetricReferences(e_.spec);
  if (MutableStatus().metrics.empty() && !refs.empty()) {
    if (!obs_.metrics) return NeedOnly(Need::kMetrics);
    std::vector<api::MetricInfo> infos;
    // Criteria references first, in order, then sampleSize references the controller added.
    std::vector<std::string> order = refs;
    for (const auto& [ref, metric] : *obs_.metrics) {
      if (std::find(order.begin(), order.end(), ref) == order.end()) order.push_back(ref);
    }
    for (const std::string& ref : order) {
      auto it = obs_.metrics->find(ref);
      const std::string full = ResolveMetricReference(ref, e_.metadata.namespace_);
      if (it == obs_.metrics->end() || absl::IsNotFound(it->second.status())) {
        FailExperiment(kReasonMetricUnavailable, StrCat("Unable to find metric ", full));
        return std::move(result_);
      }
      if (!it->second.ok()) {
        FailExperiment(kReasonMetricsUnreadable, StrCat("Unable to load metric ", full));
        return std::move(result_);
      }
      infos.push_back({ref, *it->second, {}});
    }
    MutableStatus().metrics = std::move(infos);
    result_.write_status = true;
    result_.requeue_after = absl::ZeroDuration();
    return std::move(result_);
  }

  if (MutableStatus().stage == Stage::kInitializing) {
    if (!obs_.weights) return NeedOnly(Need::kWeights);
    if (!TakeWeights(*obs_.weights)) return std::move(result_);
    AdvanceStage(Stage::kRunning);
    result_.requeue_after = absl::ZeroDuration();
    return std::move(result_);
  }

  std::vector<api::FieldError> invalid = api::ValidateVersionInfo(e_);
  if (!invalid.empty()) {
    FailExperiment(kReasonInvalidExperiment, invalid.front().message);
    return std::move(result_);
  }
  if (e_.spec.criteria) {
    std::vector<api::FieldError> bad;
    api::ParseStrength(e_.spec.criteria->strength, &bad);
    if (!bad.empty()) {
      FailExperiment(kReasonInvalidExperiment,
                     StrCat(bad.front().pointer, ": ", bad.front().message));
      return std::move(result_);
    }
  }

  if (MutableStatus().version_recommended_for_promotion.empty()) {
    MutableStatus().version_recommended_for_promotion = e_.spec.version_info->baseline.name;
    result_.write_status = true;
  }
  DoIteration();
  return std::move(result_);
}

// spec.md 1.4 checkHandlersStatus. Returns false when the step ends here.
bool Stepper::CheckHandlers() {
  const std::string& name = e_.metadata.name;
  struct Check {
    HandlerType type;
    int loop;
  };
  std::vector<Check> checks = {{HandlerType::kStart, 0},
                               {HandlerType::kFinish, 0},
                               {HandlerType::kRollback, 0},
                               {HandlerType::kFailure, 0}};
  const int max_loops = e_.spec.duration->max_loops.value_or(1);
  for (int k = 1; k <= max_loops; ++k) checks.push_back({HandlerType::kLoop, k});
  bool read_weights = false;
  for (const Check& c : checks) {
    switch (HandlerStateOf(HandlerName(name, c.type, c.loop))) {
      case HandlerState::kNotLaunched:
        break;
      case HandlerState::kRunning:
        return false;  // woken when the handler changes
      case HandlerState::kFailed: {
        const std::string msg = StrCat(ToString(c.type), " actions failed");
        Failed(kReasonHandlerFailed, msg);
        EndExperiment(msg);
        return false;
      }
      case HandlerState::kComplete:
        if (c.type == HandlerType::kStart) break;
        if (c.type == HandlerType::kLoop) {
          read_weights = true;
          break;
        }
        // Ours: the finish action usually moved traffic (promotion or rollback), so the
        // final status shows the weights it left (the original kept the last iteration's).
        if (!obs_.weights) {
          result_ = NeedOnly(Need::kWeights);
          return false;
        }
        if (obs_.weights->ok()) {
          absl::StatusOr<std::vector<api::VersionWeight>> dist = Distribution(**obs_.weights);
          if (dist.ok()) MutableStatus().current_weight_distribution = *std::move(dist);
        }
        EndExperiment("Experiment Completed");
        return false;
    }
  }
  if (read_weights && MutableStatus().stage.value_or(Stage::kWaiting) == Stage::kRunning) {
    if (!obs_.weights) {
      result_ = NeedOnly(Need::kWeights);
      return false;
    }
    if (!TakeWeights(*obs_.weights)) return false;
  }
  return true;
}

// Operator verbs. Returns false when the step ends here.
bool Stepper::CheckVerbs() {
  if (Annotation(kAnnotationAbort) == "true") {
    MutableStatus().extra[kStatusAborted] = true;
    Progress(kReasonAborted, "Experiment aborted by user");
    Terminate(HandlerType::kRollback, "Experiment aborted");
    return false;
  }
  const bool paused = Annotation(kAnnotationPause) == "true";
  const bool was_paused = MutableStatus().extra.contains(kStatusPausedAt);
  if (paused) {
    if (!was_paused) {
      MutableStatus().extra[kStatusPausedAt] = StrCat(absl::ToUnixSeconds(now_));
      Progress(kReasonPaused, "Experiment paused; traffic held");
    }
    return false;
  }
  if (was_paused) {
    int64_t at = 0;
    const Json& v = MutableStatus().extra[kStatusPausedAt];
    if (v.is_string()) at = std::strtoll(v.get<std::string>().c_str(), nullptr, 10);
    const int64_t paused_for = std::max<int64_t>(0, absl::ToUnixSeconds(now_) - at);
    int64_t total = MutableStatus().extra.value(kStatusPausedSeconds, int64_t{0});
    total += paused_for;
    MutableStatus().extra.erase(kStatusPausedAt);
    MutableStatus().extra[kStatusPausedSeconds] = total;
    Progress(kReasonResumed,
             StrCat("Experiment resumed after ", paused_for, "s paused (", total, "s in total)"));
  }
  return true;
}

// spec.md 5.4. Returns true when this experiment owns its target.
bool Stepper::AcquireTarget() {
  if (api::ConditionIsTrue(MutableStatus(), api::kConditionTargetAcquired)) return true;
  for (const Contender& c : obs_.contenders) {
    if (c.target_acquired) return false;
  }
  // Earliest initTime first; ties broken by namespace/name so exactly one contender wins
  // (the original let both proceed).
  const auto key =
      std::make_tuple(*MutableStatus().init_time, e_.metadata.namespace_, e_.metadata.name);
  for (const Contender& c : obs_.contenders) {
    if (!c.init_time) continue;
    if (std::make_tuple(*c.init_time, c.namespace_, c.name) < key) return false;
  }
  Record(api::kConditionTargetAcquired, ConditionStatus::kTrue, kReasonTargetAcquired, "");
  return false;  // the status write wakes us
}

Json WeightsRecord(const std::vector<api::VersionWeight>& w) {
  Json out = Json::object();
  for (const auto& v : w) out[v.name] = v.value;
  return out;
}

void Stepper::DoIteration() {
  if (!MutableStatus().start_time) {
    MutableStatus().start_time = now_;
    result_.write_status = true;
  }
  const int32_t per_loop = *e_.spec.duration->iterations_per_loop;
  const int32_t total = per_loop * *e_.spec.duration->max_loops;
  const int32_t completed = MutableStatus().completed_iterations.value_or(0);
  if (completed >= total || MutableStatus().extra.contains(kStatusDecided)) {
    FinishExperiment();
    return;
  }
  const absl::Duration interval = absl::Seconds(*e_.spec.duration->interval_seconds);
  if (completed > 0 && MutableStatus().last_update_time) {
    const absl::Time due = *MutableStatus().last_update_time + interval - kIterationSlack;
    if (now_ < due) {
      result_.requeue_after = due - now_;
      return;
    }
  }
  if (!obs_.values) {
    result_ = NeedOnly(Need::kValues);
    return;
  }

  // Aggregated metrics (spec.md 4.1): builtin ones from aggregatedBuiltinHists, then one entry
  // per metric in status.metrics with a value per version that has one.
  api::AggregatedMetricsAnalysis agg;
  const Json previous_hists =
      MutableStatus().analysis ? MutableStatus().analysis->aggregated_builtin_hists : Json(nullptr);
  analytics::Messages agg_msgs;
  if (previous_hists.is_object()) {
    absl::StatusOr<api::AggregatedMetricsAnalysis> builtin =
        analytics::BuiltinMetrics(previous_hists);
    if (builtin.ok()) {
      agg.data = builtin->data;
    } else {
      agg_msgs.errors.push_back(std::string(builtin.status().message()));
    }
  }
  std::vector<std::string> unavailable;
  std::vector<std::string> no_data;
  const std::vector<std::string> versions = api::VersionNames(e_.spec);
  // A value missing because the version has had no observations (the provider's sample size,
  // the metric's sampleSize metric or the experiment's requestCount metric reads 0) is not a
  // backend failure: holding traffic would keep a version at 0 % from ever getting data. It is
  // still no evidence: the objective is unmet and nothing is promoted on it.
  auto reads_zero = [&](const std::string& ref, const std::string& v) {
    if (ref.empty()) return false;
    const std::string want = ResolveMetricReference(ref, e_.metadata.namespace_);
    for (const api::MetricInfo& other : MutableStatus().metrics) {
      if (ResolveMetricReference(other.name, e_.metadata.namespace_) != want) continue;
      auto m = obs_.values->find(other.name);
      if (m == obs_.values->end()) return false;
      auto it = m->second.find(v);
      return it != m->second.end() && it->second.value && *it->second.value == 0;
    }
    return false;
  };
  auto no_observations = [&](const api::MetricInfo& mi, const std::string& v,
                             const MetricValue* mv) {
    if (mv != nullptr && mv->sample_size && *mv->sample_size == 0) return true;
    return reads_zero(mi.metric_obj.spec.sample_size, v) ||
           (e_.spec.criteria && reads_zero(e_.spec.criteria->request_count, v));
  };
  for (const api::MetricInfo& mi : MutableStatus().metrics) {
    if (mi.metric_obj.spec.provider == "iter8" && agg.data.count(mi.name) > 0) continue;
    api::AggregatedMetricsData& data = agg.data[mi.name];
    auto metric_values = obs_.values->find(mi.name);
    for (const std::string& v : versions) {
      api::AggregatedMetricsVersionData vd;
      const MetricValue* mv = nullptr;
      if (metric_values != obs_.values->end()) {
        auto it = metric_values->second.find(v);
        if (it != metric_values->second.end()) mv = &it->second;
      }
      if (mv != nullptr && mv->value && std::isfinite(*mv->value)) {
        absl::StatusOr<api::Quantity> q = api::Quantity::FromDouble(*mv->value);
        if (q.ok()) vd.value = *q;
      }
      if (!vd.value && no_observations(mi, v, mv)) {
        agg_msgs.errors.push_back(analytics::MetricsBackendError(mi.name, v));
        if (std::find(no_data.begin(), no_data.end(), v) == no_data.end()) no_data.push_back(v);
      } else if (!vd.value) {
        agg_msgs.errors.push_back(analytics::MetricsBackendError(mi.name, v));
        unavailable.push_back(StrCat(mi.name, " for ", v, ": ",
                                     mv == nullptr       ? "not queried"
                                     : mv->error.empty() ? "no value"
                                                         : mv->error));
      }
      if (mv != nullptr && mv->sample_size && *mv->sample_size >= 0 &&
          *mv->sample_size <= 2147483647.0) {
        vd.sample_size = static_cast<int32_t>(*mv->sample_size);
      }
      data.data[v] = std::move(vd);
    }
  }
  agg.message = agg_msgs.Join();

  Experiment for_analytics = e_;
  for_analytics.status = MutableStatus();
  const analytics::Engine& engine = SelectEngine(e_);
  const analytics::EvidenceMap evidence = EvidenceFromValues(for_analytics, *obs_.values);
  analytics::AnalyticsOutput out = engine.Analyze({for_analytics, agg, &evidence}, random_);
  const bool sequential = !out.state.is_null();

  api::Analysis analysis;
  const std::string provenance = StrCat("iter8/", engine.Name());
  analysis.aggregated_metrics = std::move(agg);
  analysis.version_assessments = std::move(out.version_assessments);
  analysis.winner_assessment = std::move(out.winner_assessment);
  analysis.weights = std::move(out.weights);
  for (api::AnalysisMetaData* m : std::initializer_list<api::AnalysisMetaData*>{
           &*analysis.aggregated_metrics, &*analysis.version_assessments,
           &*analysis.winner_assessment, &*analysis.weights}) {
    m->provenance = provenance;
    m->timestamp = now_;
  }
  analysis.aggregated_builtin_hists = previous_hists;
  if (MutableStatus().analysis) analysis.extra = MutableStatus().analysis->extra;
  if (sequential) analysis.extra[analytics::kSequentialStateKey] = out.state;
  if (!obs_.counters.is_null()) analysis.extra[kCountersStateKey] = obs_.counters;
  MutableStatus().analysis = analysis;
  result_.write_status = true;

  Json record = Json::object();
  record["iteration"] = completed + 1;
  record["time"] = api::FormatRfc3339(now_);
  record["engine"] = engine.Name();
  record["values"] = ValuesRecord(*obs_.values);
  record["weightsBefore"] = WeightsRecord(MutableStatus().current_weight_distribution);
  if (sequential) record["verdicts"] = out.state;

  // The classic engine's rollback rule is the original's (any rollback_on_failure objective
  // unmet by any version at any iteration); the sequential engine rolls back only on a
  // certified violation, and then takes the candidates' traffic away at once.
  std::optional<std::string> unmet;
  if (!sequential) {
    unmet = UnmetRollbackObjectiveImpl(e_, *analysis.version_assessments);
  } else if (out.decision == analytics::Decision::kRollback) {
    unmet = out.reason;
  }
  if (unmet) {
    record["decision"] = "rollback";
    record["why"] = *unmet;
    result_.record = std::move(record);
    if (sequential) {
      MutableStatus().extra[kStatusDecided] = StrCat("rollback: ", *unmet);
      MutableStatus().version_recommended_for_promotion = e_.spec.version_info->baseline.name;
      MutableStatus().completed_iterations = completed + 1;
      MutableStatus().last_update_time = CeilSecond(now_);
      if (!DryRun()) {
        std::vector<WeightPatch> patches;
        for (const api::VersionDetail* v : api::AllVersions(e_.spec)) {
          const bool baseline = v->name == e_.spec.version_info->baseline.name;
          AddWeightOp(e_, *v, baseline ? 100 : 0, &patches);
        }
        result_.patches = std::move(patches);
      }
      Progress(kReasonIterationUpdate, StrCat("Completed Iteration ", completed + 1, "; ", *unmet));
    }
    Terminate(HandlerType::kRollback, "Experiment rolled back");
    return;
  }

  // Weights: not for Conformance or FixedSplit, not in a dry run, and held when metrics are
  // unavailable (missing data is not evidence that the candidate is worse).
  const bool moves_traffic =
      e_.spec.strategy.testing_pattern != api::TestingPattern::kConformance &&
      DeploymentPattern() != api::DeploymentPattern::kFixedSplit;
  std::string why;
  if (!unavailable.empty()) {
    MutableStatus().extra[kStatusMetricsUnavailable] = StrJoin(unavailable, "; ");
    why = StrCat("metrics unavailable (", StrJoin(unavailable, "; "), "); traffic held");
  } else {
    MutableStatus().extra.erase(kStatusMetricsUnavailable);
  }
  if (moves_traffic && !DryRun() && unavailable.empty()) {
    std::map<std::string, int32_t> current;
    for (const auto& w : MutableStatus().current_weight_distribution) current[w.name] = w.value;
    std::vector<WeightPatch> patches;
    for (const api::VersionDetail* v : api::AllVersions(e_.spec)) {
      if (!v->weight_obj_ref || v->weight_obj_ref->field_path.empty()) continue;
      int32_t recommended = -1;
      for (const auto& w : analysis.weights->data) {
        if (w.name == v->name) recommended = w.value;
      }
      if (recommended < 0) {
        FailExperiment(kReasonWeightRedistributionFailed, "No weight recommendation provided");
        return;
      }
      auto cur = current.find(v->name);
      if (cur != current.end() && cur->second == recommended) continue;
      if (cur == current.end() && recommended == 0) continue;
      AddWeightOp(e_, *v, recommended, &patches);
    }
    result_.patches = std::move(patches);
  }
  result_.read_weights_after = true;

  const api::WinnerAssessmentData& winner = analysis.winner_assessment->data;
  MutableStatus().version_recommended_for_promotion =
      winner.winner_found ? winner.winner : e_.spec.version_info->baseline.name;
  const int32_t done = completed + 1;
  MutableStatus().completed_iterations = done;
  // Stored times keep whole seconds (metav1.Time); rounding up keeps the next iteration at
  // least intervalSeconds - 100 ms away even after the stored value is read back.
  const absl::Time last_update = CeilSecond(now_);
  MutableStatus().last_update_time = last_update;

  Json weights_after = Json::object();
  for (const auto& w : analysis.weights->data) weights_after[w.name] = w.value;
  record["recommendedWeights"] = weights_after;
  record["winner"] = winner.winner_found ? Json(winner.winner) : Json(nullptr);
  record["decision"] = !unavailable.empty() ? "hold"
                       : DryRun()           ? "observe (dry run)"
                       : moves_traffic      ? "shift traffic"
                                            : "keep split";
  if (why.empty()) {
    if (sequential) {
      why = out.reason;
    } else {
      why = winner.winner_found ? StrCat("winner ", winner.winner) : std::string("no winner yet");
    }
    if (!no_data.empty()) why += StrCat(" (no observations yet for ", StrJoin(no_data, ", "), ")");
  }
  // A certified outcome ends the experiment early (strength.stopEarly): the next step runs the
  // finish action, through the approval gate like any finish.
  if (sequential && (out.decision == analytics::Decision::kPromote ||
                     out.decision == analytics::Decision::kEnd)) {
    const char* verb = out.decision == analytics::Decision::kPromote ? "promote" : "end";
    MutableStatus().extra[kStatusDecided] = StrCat(verb, ": ", out.reason);
    record["decision"] = StrCat(record["decision"].get<std::string>(), ", then ", verb);
  }
  record["why"] = why;
  result_.record = std::move(record);

  Progress(kReasonIterationUpdate, unavailable.empty()
                                       ? StrCat("Completed Iteration ", done)
                                       : StrCat("Completed Iteration ", done, "; ", why));
  if (done % per_loop == 0) {
    const int loop = done / per_loop;
    Progress(kReasonIterationUpdate, StrCat("Completed Loop ", loop));
    if (!DryRun() && e_.spec.strategy.actions.count("loop") > 0) {
      Launch(HandlerType::kLoop, loop);
      return;
    }
  }
  result_.requeue_after = done >= total || MutableStatus().extra.contains(kStatusDecided)
                              ? absl::ZeroDuration()
                              : last_update + interval - kIterationSlack - now_;
}

void Stepper::FinishExperiment() {
  if (RequireApproval() && Annotation(kAnnotationApprove) != "true") {
    if (MutableStatus().message.rfind(kReasonAwaitingApproval, 0) != 0) {
      Progress(kReasonAwaitingApproval,
               StrCat("Waiting for approval to finish; recommended version ",
                      MutableStatus().version_recommended_for_promotion, " (annotate ",
                      kAnnotationApprove, "=true)"));
    }
    return;
  }
  if (RequireApproval() && MutableStatus().message.rfind(kReasonAwaitingApproval, 0) == 0) {
    Progress(kReasonApproved, "Experiment approved");
  }
  Terminate(HandlerType::kFinish, DryRun() ? "Experiment completed successfully (dry run)"
                                           : "Experiment completed successfully");
}

}  // namespace

// ---------------------------------------------------------------- public helpers

std::string_view ToString(HandlerType type) {
  switch (type) {
    case HandlerType::kStart:
      return "Start";
    case HandlerType::kFinish:
      return "Finish";
    case HandlerType::kRollback:
      return "Rollback";
    case HandlerType::kFailure:
      return "Failure";
    case HandlerType::kLoop:
      return "Loop";
  }
  return "Unknown";
}

std::string ActionKey(HandlerType type) {
  switch (type) {
    case HandlerType::kStart:
      return "start";
    case HandlerType::kLoop:
      return "loop";
    case HandlerType::kFinish:
    case HandlerType::kRollback:
    case HandlerType::kFailure:
      return "finish";
  }
  return "finish";
}

std::string HandlerName(const std::string& experiment, HandlerType type, int loop) {
  if (type == HandlerType::kLoop) return StrCat(experiment, "-loop-", loop);
  return StrCat(experiment, "-", ActionKey(type));
}

std::vector<std::string> MetricReferences(const api::ExperimentSpec& spec) {
  std::vector<std::string> refs;
  if (!spec.criteria) return refs;
  auto add = [&refs](const std::string& r) {
    if (!r.empty() && std::find(refs.begin(), refs.end(), r) == refs.end()) refs.push_back(r);
  };
  const api::Criteria& c = *spec.criteria;
  add(c.request_count);
  for (const auto& r : c.rewards) add(r.metric);
  for (const auto& i : c.indicators) add(i);
  for (const auto& o : c.objectives) add(o.metric);
  return refs;
}

std::string ResolveMetricReference(const std::string& reference,
                                   const std::string& experiment_namespace) {
  if (reference.find('/') != std::string::npos) return reference;
  return StrCat(experiment_namespace, "/", reference);
}

void AddWeightOp(const api::Experiment& experiment, const api::VersionDetail& version,
                 int32_t value, std::vector<WeightPatch>* patches) {
  if (!version.weight_obj_ref || version.weight_obj_ref->field_path.empty()) return;
  api::ObjectReference obj = *version.weight_obj_ref;
  if (obj.namespace_.empty()) obj.namespace_ = experiment.metadata.namespace_;
  // v2alpha1 field paths are JSON pointers already (spec.md 1.9).
  const std::string pointer =
      experiment.v2alpha1 ? obj.field_path : FieldPathToPointer(obj.field_path);
  obj.field_path.clear();
  for (WeightPatch& p : *patches) {
    if (p.object.api_version == obj.api_version && p.object.kind == obj.kind &&
        p.object.namespace_ == obj.namespace_ && p.object.name == obj.name) {
      p.ops.push_back({version.name, pointer, value});
      return;
    }
  }
  patches->push_back({obj, {{version.name, pointer, value}}});
}

std::string FieldPathToPointer(const std::string& field_path) {
  std::string s = StrReplaceAll(field_path, {{"[", "/"}});
  s = StrReplaceAll(s, {{"].", "/"}});
  s = StrReplaceAll(s, {{".", "/"}});
  return s;
}

StepResult Step(const api::Experiment& experiment, const Observations& observations, absl::Time now,
                Random& random) {
  Stepper stepper(experiment, observations, now, random);
  return stepper.Run();
}

void RecordWeights(const api::Experiment& experiment,
                   const absl::StatusOr<std::map<std::string, int32_t>>& weights, absl::Time now,
                   StepResult* result) {
  api::Experiment e = experiment;
  e.status = result->status;
  Observations none;
  SequenceRandom unused({});
  Stepper s(e, none, now, unused);
  s.TakeWeights(weights);
  result->status = std::move(s.MutableStatus());
  result->write_status = true;
  for (auto& ev : s.Result().events) result->events.push_back(std::move(ev));
  if (s.Result().release_target) {
    result->release_target = true;
    result->requeue_after.reset();
  }
}

void RecordLaunchFailure(const api::Experiment& experiment, const std::string& error,
                         absl::Time now, StepResult* result) {
  api::Experiment e = experiment;
  e.status = result->status;
  Observations none;
  SequenceRandom unused({});
  Stepper s(e, none, now, unused);
  s.Failed(kReasonLaunchHandlerFailed, error);
  s.EndExperiment("failure executing failure handler");
  result->status = std::move(s.MutableStatus());
  result->write_status = true;
  result->launch.reset();
  result->release_target = true;
  result->requeue_after.reset();
  for (auto& ev : s.Result().events) result->events.push_back(std::move(ev));
}

std::string_view ToString(Outcome outcome) {
  switch (outcome) {
    case Outcome::kRunning:
      return "running";
    case Outcome::kPromoted:
      return "promoted";
    case Outcome::kBaselineKept:
      return "baseline kept";
    case Outcome::kRolledBack:
      return "rolled back";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kAborted:
      return "aborted";
  }
  return "unknown";
}

Outcome ExperimentOutcome(const api::Experiment& e) {
  const ExperimentStatus& s = e.status;
  if (!api::ConditionIsTrue(s, api::kConditionCompleted)) return Outcome::kRunning;
  if (api::ConditionIsTrue(s, api::kConditionFailed)) return Outcome::kFailed;
  if (s.extra.contains(kStatusAborted)) return Outcome::kAborted;
  if (s.extra.contains(kStatusDecided) && s.extra[kStatusDecided].is_string() &&
      s.extra[kStatusDecided].get<std::string>().rfind("rollback", 0) == 0) {
    return Outcome::kRolledBack;
  }
  const bool sequential = s.analysis && s.analysis->extra.contains(analytics::kSequentialStateKey);
  // A rollback ends the experiment right after the analysis that triggered it, so the last
  // analysis shows a rollback objective that some version does not meet.
  if (!sequential && s.analysis && s.analysis->version_assessments) {
    api::Experiment defaulted = e;
    api::ApplyDefaults(&defaulted);
    if (UnmetRollbackObjectiveImpl(defaulted, *s.analysis->version_assessments)) {
      return Outcome::kRolledBack;
    }
  }
  if (!e.spec.version_info) return Outcome::kBaselineKept;
  return s.version_recommended_for_promotion.empty() ||
                 s.version_recommended_for_promotion == e.spec.version_info->baseline.name
             ? Outcome::kBaselineKept
             : Outcome::kPromoted;
}

std::optional<std::string> UnmetRollbackObjective(const api::Experiment& experiment,
                                                  const api::VersionAssessmentAnalysis& a) {
  return UnmetRollbackObjectiveImpl(experiment, a);
}

analytics::EvidenceMap EvidenceFromValues(const api::Experiment& e, const MetricValues& values) {
  analytics::EvidenceMap out;
  auto value_of = [&](const std::string& ref, const std::string& v) -> std::optional<double> {
    if (ref.empty()) return std::nullopt;
    const std::string want = ResolveMetricReference(ref, e.metadata.namespace_);
    for (const api::MetricInfo& other : e.status.metrics) {
      if (ResolveMetricReference(other.name, e.metadata.namespace_) != want) continue;
      auto m = values.find(other.name);
      if (m == values.end()) return std::nullopt;
      auto it = m->second.find(v);
      if (it == m->second.end()) return std::nullopt;
      return it->second.value;
    }
    return std::nullopt;
  };
  for (const api::MetricInfo& mi : e.status.metrics) {
    auto metric = values.find(mi.name);
    if (metric == values.end()) continue;
    for (const std::string& v : api::VersionNames(e.spec)) {
      auto it = metric->second.find(v);
      if (it == metric->second.end() || !it->second.value) continue;
      analytics::Evidence ev;
      ev.value = it->second.value;
      ev.count = it->second.sample_size;
      if (!ev.count) ev.count = value_of(mi.metric_obj.spec.sample_size, v);
      if (!ev.count && e.spec.criteria) ev.count = value_of(e.spec.criteria->request_count, v);
      ev.buckets = it->second.buckets;
      out[mi.name][v] = std::move(ev);
    }
  }
  return out;
}

Json ValuesRecord(const MetricValues& values) {
  Json out = Json::object();
  for (const auto& [metric, versions] : values) {
    Json& m = out[metric];
    m = Json::object();
    for (const auto& [version, v] : versions) {
      Json entry = Json::object();
      if (v.value) entry["value"] = *v.value;
      if (v.sample_size) entry["sampleSize"] = *v.sample_size;
      if (v.buckets && !v.buckets->upper_bounds.empty()) {
        // JSON has no infinity: the finite bounds, and one more count for +Inf.
        Json bounds = Json::array();
        for (double b : v.buckets->upper_bounds) {
          if (std::isfinite(b)) bounds.push_back(b);
        }
        entry["buckets"] = {{"bounds", bounds}, {"cumulative", v.buckets->cumulative}};
      }
      if (!v.error.empty()) entry["error"] = v.error;
      if (!v.request.empty()) entry["request"] = v.request;
      m[version] = std::move(entry);
    }
  }
  return out;
}

absl::StatusOr<MetricValues> ValuesFromRecord(const Json& record) {
  MetricValues out;
  const Json values = record.value("values", Json::object());
  if (!values.is_object()) return absl::InvalidArgumentError("record: values is not an object");
  for (const auto& [metric, versions] : values.items()) {
    if (!versions.is_object()) {
      return absl::InvalidArgumentError(StrCat("record: values/", metric, " is not an object"));
    }
    for (const auto& [version, entry] : versions.items()) {
      MetricValue mv;
      if (entry.contains("value") && entry["value"].is_number()) mv.value = entry["value"];
      if (entry.contains("sampleSize") && entry["sampleSize"].is_number()) {
        mv.sample_size = entry["sampleSize"];
      }
      mv.error = entry.value("error", std::string());
      mv.request = entry.value("request", std::string());
      if (entry.contains("buckets") && entry["buckets"].is_object()) {
        const Json& b = entry["buckets"];
        analytics::Buckets buckets;
        try {
          buckets.upper_bounds = b.at("bounds").get<std::vector<double>>();
          buckets.cumulative = b.at("cumulative").get<std::vector<double>>();
        } catch (const Json::exception& ex) {
          return absl::InvalidArgumentError(
              StrCat("record: values/", metric, "/", version, "/buckets: ", ex.what()));
        }
        buckets.upper_bounds.push_back(std::numeric_limits<double>::infinity());
        if (buckets.upper_bounds.size() != buckets.cumulative.size()) {
          return absl::InvalidArgumentError(
              StrCat("record: values/", metric, "/", version,
                     "/buckets: one more count than bounds expected"));
        }
        mv.buckets = std::move(buckets);
      }
      out[metric][version] = std::move(mv);
    }
  }
  return out;
}

const analytics::Engine& SelectEngine(const api::Experiment& experiment) {
  static const analytics::ClassicEngine* classic = new analytics::ClassicEngine();
  static const analytics::SequentialEngine* sequential = new analytics::SequentialEngine();
  if (!experiment.spec.criteria) return *classic;
  std::vector<api::FieldError> ignored;
  const api::Strength s = api::ParseStrength(experiment.spec.criteria->strength, &ignored);
  return s.engine == api::EngineKind::kSequential
             ? static_cast<const analytics::Engine&>(*sequential)
             : *classic;
}

}  // namespace iter8::engine
