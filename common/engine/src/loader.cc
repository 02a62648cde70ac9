#include "loader.h"

#include <algorithm>

namespace entrenar::engine {

BatchLoader::BatchLoader(torch::Tensor x, torch::Tensor y, torch::Tensor order, std::int64_t first,
                         std::int64_t batches, LoaderOptions options)
    : x_(std::move(x)),
      y_(std::move(y)),
      order_(std::move(order)),
      first_(first),
      batches_(batches),
      next_(first),
      options_(options) {
  const std::int64_t workers =
      std::min(options_.num_workers, std::max<std::int64_t>(0, batches - first));
  for (std::int64_t w = 0; w < workers; ++w) queues_.push_back(std::make_unique<Queue>());
  for (std::int64_t w = 0; w < workers; ++w) {
    workers_.emplace_back([this, w] { Work(static_cast<std::size_t>(w)); });
  }
}

BatchLoader::~BatchLoader() {
  stopping_ = true;
  for (auto& q : queues_) {
    std::lock_guard<std::mutex> lock(q->mu);  // a worker between its check and its wait
    q->changed.notify_all();
  }
  for (std::thread& t : workers_) t.join();
}

BatchLoader::Batch BatchLoader::Build(std::int64_t b) const {
  const std::int64_t n = order_.size(0), size = options_.batch_size;
  const torch::Tensor idx = order_.slice(0, b * size, std::min(n, (b + 1) * size));
  auto [xb, yb] = options_.build ? options_.build(idx)
                                 : std::pair{x_.index_select(0, idx), y_.index_select(0, idx)};
  if (options_.pin_memory) {
    xb = xb.pin_memory();
    yb = yb.pin_memory();
  }
  return {xb, yb};
}

void BatchLoader::Work(std::size_t w) {
  Queue& q = *queues_[w];
  const auto stride = static_cast<std::int64_t>(queues_.size());
  try {
    for (std::int64_t b = first_ + static_cast<std::int64_t>(w); b < batches_; b += stride) {
      Batch batch = Build(b);
      std::unique_lock<std::mutex> lock(q.mu);
      q.changed.wait(lock, [&] {
        return stopping_ || static_cast<std::int64_t>(q.items.size()) < options_.prefetch_factor;
      });
      if (stopping_) return;
      q.items.push_back(std::move(batch));
      q.changed.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(q.mu);
    q.error = std::current_exception();
    q.changed.notify_all();
  }
}

std::pair<torch::Tensor, torch::Tensor> BatchLoader::Next() {
  const std::int64_t b = next_++;
  Batch batch;
  if (queues_.empty()) {
    batch = Build(b);
  } else {
    Queue& q = *queues_[static_cast<std::size_t>((b - first_) %
                                                 static_cast<std::int64_t>(queues_.size()))];
    std::unique_lock<std::mutex> lock(q.mu);
    q.changed.wait(lock, [&] { return !q.items.empty() || q.error; });
    if (q.items.empty()) std::rethrow_exception(q.error);
    batch = std::move(q.items.front());
    q.items.pop_front();
    q.changed.notify_all();
  }
  if (options_.device.is_cpu()) return batch;
  return {batch.first.to(options_.device, /*non_blocking=*/options_.pin_memory),
          batch.second.to(options_.device, /*non_blocking=*/options_.pin_memory)};
}

}  // namespace entrenar::engine
