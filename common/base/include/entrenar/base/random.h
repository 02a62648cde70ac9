// Random draws that are the same on every platform and standard library (std::uniform_*
// distributions are not), and the seed of one sample's draws in one epoch.
#pragma once

#include <cstdint>
#include <random>

namespace entrenar {

// A uniform integer in [0, n) (0 when n <= 1) and a uniform double in [0, 1).
std::uint64_t DrawBelow(std::mt19937_64& rng, std::uint64_t n);
double DrawUnit(std::mt19937_64& rng);

// The seed of the random draws that augment sample `row` in epoch `epoch` (SplitMix64 of the
// loader's seed, the epoch and the row): the same for any number of loader workers and when a
// run resumes mid-epoch.
std::uint64_t SampleSeed(std::uint64_t seed, std::int64_t epoch, std::int64_t row);

}  // namespace entrenar
