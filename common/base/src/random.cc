#include "entrenar/base/random.h"

namespace entrenar {
namespace {

std::uint64_t SplitMix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t DrawBelow(std::mt19937_64& rng, std::uint64_t n) { return n <= 1 ? 0 : rng() % n; }
double DrawUnit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::uint64_t SampleSeed(std::uint64_t seed, std::int64_t epoch, std::int64_t row) {
  return SplitMix64(SplitMix64(SplitMix64(seed) ^ static_cast<std::uint64_t>(epoch)) ^
                    static_cast<std::uint64_t>(row));
}

}  // namespace entrenar
