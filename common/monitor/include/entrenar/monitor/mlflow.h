#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "entrenar/base/status.h"

namespace entrenar::monitor {

struct MlflowOptions {
  std::string uri;         // the tracking server: http://HOST:PORT[/PREFIX]
  std::string experiment;  // the MLflow experiment (created when missing)
  std::string run_name;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> params;
  // Told of every problem, once per kind; tracking never stops training. Called on the
  // tracker's thread.
  std::function<void(const std::string&)> warn;
  std::chrono::milliseconds request_timeout{5000};
  int attempts = 5;  // per request, with doubling backoff
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds flush_every{1000};
  std::chrono::milliseconds finish_deadline{20000};  // Finish() waits at most this long
};

// Records a run on an MLflow tracking server through its REST API (2.0): the experiment by
// name (created if missing), runs/create with the run name and tags, runs/log-batch with the
// params (100 per request) and the metrics (1000 per request, every `flush_every`), and
// runs/update with the final status. Requests run on a background thread and are retried on
// connection errors, 429 and 5xx with doubling backoff; metrics that could not be sent are kept
// (up to 100000) and retried at the next flush. OnRow only appends to a queue.
class MlflowTracker {
 public:
  // Returns kInvalidArgument for a uri that is not http://.
  static Result<std::unique_ptr<MlflowTracker>> Start(MlflowOptions options);
  ~MlflowTracker();

  // One logged row; non-finite values are left out (MLflow's JSON API has no NaN).
  void OnRow(std::int64_t step, std::int64_t unix_ms, const std::map<std::string, double>& values);
  // Sends what is queued and sets the run's status (FINISHED, FAILED or KILLED), waiting at most
  // finish_deadline. Idempotent.
  void Finish(const std::string& status);

 private:
  struct Impl;
  explicit MlflowTracker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace entrenar::monitor
