#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "entrenar/base/status.h"

namespace entrenar::monitor {

// Writes a run's metrics as TensorBoard scalars (one event per logged step, tagged by metric
// name) to an event file in `dir`. Flushes at most every `flush_seconds` and at Close(), so the
// cost per step is an in-memory append.
class TensorBoardTracker {
 public:
  static Result<std::unique_ptr<TensorBoardTracker>> Open(const std::string& dir,
                                                          double flush_seconds = 2);
  ~TensorBoardTracker();
  void OnRow(std::int64_t step, double wall_time, const std::map<std::string, double>& values);
  Status Close();
  const std::string& path() const;

 private:
  struct Impl;
  explicit TensorBoardTracker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace entrenar::monitor
