#include "cross_validation.h"

#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/expr/value.h"
#include "entrenar/run/layout.h"

namespace entrenar::engine {
namespace {

// Forwards a fold's log lines, prefixed, and nothing else: a fold's steps are not the run's.
class FoldSink : public EventSink {
 public:
  FoldSink(EventSink& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}
  void OnEvent(const Event& e) override {
    if (e.kind != Event::Kind::kLog) return;
    Event copy = e;
    copy.text = prefix_ + e.text;
    out_.OnEvent(copy);
  }
  Verdict TakeVerdict() override { return out_.TakeVerdict(); }
  void Flush() override { out_.Flush(); }

 private:
  EventSink& out_;
  std::string prefix_;
};

void Summarize(FoldResults& r) {
  std::map<std::string, std::vector<double>> values;
  for (const auto& fold : r.folds) {
    for (const auto& [k, v] : fold) values[k].push_back(v);
  }
  for (const auto& [k, v] : values) {
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    r.mean[k] = mean;
    r.std[k] = std::sqrt(var / static_cast<double>(v.size()));
  }
}

// The folds a resumed run finished before, if cross_validation.json holds them.
bool ReadFinished(const std::string& file, FoldResults* r) {
  const Result<std::string> text = ReadWholeFile(file);
  const nlohmann::json j =
      text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
  if (!j.is_object() || !j.contains("folds")) return false;
  try {
    r->folds = j["folds"].get<std::vector<std::map<std::string, double>>>();
  } catch (const nlohmann::json::exception&) {
    return false;  // damaged: the folds are trained again
  }
  Summarize(*r);
  return true;
}

}  // namespace

Result<FoldResults> CrossValidate(const manifest::Manifest& m, const TrainOptions& options,
                                  EventSink& sink, const TrainFold& train) {
  const auto& cv = *m.training.validation.cross_validation;
  const std::string file = run::Layout(options.run_dir).CrossValidation();
  FoldResults r;
  if (!options.resume_from.empty() && ReadFinished(file, &r)) return r;
  for (std::int64_t k = 0; k < cv.folds; ++k) {
    const std::string name = "fold " + std::to_string(k + 1) + "/" + std::to_string(cv.folds);
    ENTRENAR_ASSIGN_OR_RETURN(PreparedData d,
                              PrepareData(m, options.base_dir, options.seed,
                                          Fold{k, cv.folds, cv.stratified, cv.shuffle}));
    FoldSink fold_sink(sink, name + ": ");
    ENTRENAR_ASSIGN_OR_RETURN(const TrainSummary s, train(std::move(d), fold_sink));
    std::string line = name + ":";
    for (const auto& [key, v] : s.val) line += " " + key + "=" + expr::FormatDouble(v);
    Event e;
    e.kind = Event::Kind::kLog;
    e.text = line;
    sink.OnEvent(e);
    r.folds.push_back(s.val);
    if (s.stopped) {
      r.stopped = true;
      return r;
    }
  }
  Summarize(r);
  const nlohmann::ordered_json j = {{"folds", r.folds}, {"mean", r.mean}, {"std", r.std}};
  ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(file, j.dump(2) + "\n"));
  return r;
}

Event FoldsEvent(const FoldResults& r) {
  Event e;
  e.kind = Event::Kind::kValidation;
  e.text = "cross_validation";
  for (const auto& [k, v] : r.mean) e.values[k + "_mean"] = v;
  for (const auto& [k, v] : r.std) e.values[k + "_std"] = v;
  return e;
}

}  // namespace entrenar::engine
