#include "entrenar/plan/budget.h"

#include <limits>
#include <string>

namespace entrenar::plan {

std::int64_t WorldSize(const manifest::Manifest& m) {
  return m.training.distributed ? m.training.distributed->world_size : 1;
}

std::int64_t RankRows(std::int64_t rows, std::int64_t world_size) {
  return world_size <= 1 ? rows : (rows + world_size - 1) / world_size;
}

std::vector<std::int64_t> RankShard(const std::vector<std::int64_t>& order, std::int64_t rank,
                                    std::int64_t world_size) {
  if (world_size <= 1) return order;
  const auto n = static_cast<std::int64_t>(order.size());
  const std::int64_t per_rank = RankRows(n, world_size);
  std::vector<std::int64_t> shard;
  shard.reserve(static_cast<std::size_t>(per_rank));
  for (std::int64_t i = rank; i < per_rank * world_size && n > 0; i += world_size) {
    shard.push_back(order[static_cast<std::size_t>(i % n)]);
  }
  return shard;
}

Result<Budget> ComputeBudget(const manifest::Manifest& m, std::int64_t all_rows) {
  const std::int64_t rows = RankRows(all_rows, WorldSize(m));
  const std::int64_t batch = m.data.loader.batch_size;
  const std::int64_t accum = m.training.gradient.accumulation_steps;
  Budget b;
  b.batches = m.data.loader.drop_last ? rows / batch : (rows + batch - 1) / batch;
  if (b.batches == 0) {
    const std::string whose =
        rows == all_rows ? "the training split (" : "each rank's share of the training split (";
    return InvalidArgument("data.loader.batch_size: " + whose + std::to_string(rows) +
                           " rows) is smaller than one batch with drop_last");
  }
  b.steps_per_epoch = (b.batches + accum - 1) / accum;
  if (m.training.duration) {
    // Bounded by wall-clock time: as many epochs as fit; the schedule's length is T_max
    // (validate refuses a schedule that needs the length without it).
    b.epochs = std::numeric_limits<std::int64_t>::max() / 4;
    b.total_steps = m.scheduler.T_max.value_or(std::numeric_limits<std::int64_t>::max() / 4);
    return b;
  }
  b.epochs = m.training.max_steps
                 ? (*m.training.max_steps + b.steps_per_epoch - 1) / b.steps_per_epoch
                 : manifest::EffectiveEpochs(m.training);
  b.total_steps = m.training.max_steps.value_or(b.epochs * b.steps_per_epoch);
  return b;
}

}  // namespace entrenar::plan
