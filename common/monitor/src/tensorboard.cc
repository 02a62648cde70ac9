// Metrics to TensorBoard event files.
#include "entrenar/monitor/tensorboard.h"

#include <chrono>
#include <cmath>

#include "entrenar/formats/tfevents.h"

namespace entrenar::monitor {

struct TensorBoardTracker::Impl {
  explicit Impl(formats::EventFileWriter w) : writer(std::move(w)) {}
  formats::EventFileWriter writer;
  std::chrono::steady_clock::duration flush_every{};
  std::chrono::steady_clock::time_point last_flush = std::chrono::steady_clock::now();
};

TensorBoardTracker::TensorBoardTracker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TensorBoardTracker::~TensorBoardTracker() = default;

Result<std::unique_ptr<TensorBoardTracker>> TensorBoardTracker::Open(const std::string& dir,
                                                                     double flush_seconds) {
  ENTRENAR_ASSIGN_OR_RETURN(formats::EventFileWriter w, formats::EventFileWriter::Open(dir));
  auto impl = std::make_unique<Impl>(std::move(w));
  impl->flush_every = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(flush_seconds));
  return std::unique_ptr<TensorBoardTracker>(new TensorBoardTracker(std::move(impl)));
}

void TensorBoardTracker::OnRow(std::int64_t step, double wall_time,
                               const std::map<std::string, double>& values) {
  formats::ScalarEvent e;
  e.wall_time = wall_time;
  e.step = step;
  for (const auto& [name, v] : values) e.scalars[name] = static_cast<float>(v);
  impl_->writer.Add(e);
  const auto now = std::chrono::steady_clock::now();
  if (now - impl_->last_flush >= impl_->flush_every) {
    (void)impl_->writer.Flush();  // a failure shows at Close()
    impl_->last_flush = now;
  }
}

Status TensorBoardTracker::Close() { return impl_->writer.Flush(); }

const std::string& TensorBoardTracker::path() const { return impl_->writer.path(); }

}  // namespace entrenar::monitor
