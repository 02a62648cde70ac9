// How long `entrenar validate` spends on SPEC §11 (parse, templates, typed read, all rules).
// Goal: under 2 ms. Prints per-run figures; not a test.
//   build/bin/bench_validate [FILE] [RUNS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "entrenar/manifest/load.h"

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : ENTRENAR_BENCH_DATA "/spec_s11.yaml";
  const int runs = argc > 2 ? std::atoi(argv[2]) : 2000;
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    return 1;
  }
  std::ostringstream text;
  text << in.rdbuf();
  entrenar::manifest::LoadOptions options;
  options.timestamp = "2026-01-01T00:00:00Z";

  // Warm up, and make sure the input is valid: timing a failure would flatter us.
  entrenar::manifest::LoadResult first = entrenar::manifest::LoadText(text.str(), path, options);
  if (!first.ok()) {
    std::cerr << "the benchmark manifest does not validate\n";
    return 1;
  }
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    entrenar::manifest::LoadResult r = entrenar::manifest::LoadText(text.str(), path, options);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) return 1;
    micros.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(micros.begin(), micros.end());
  double sum = 0;
  for (double m : micros) sum += m;
  const auto pct = [&](double p) { return micros[static_cast<std::size_t>(p * (runs - 1))]; };
  std::printf("validate %s: %d runs\n", path.c_str(), runs);
  std::printf("  mean %.1f us  median %.1f us  p90 %.1f us  p99 %.1f us  min %.1f us\n", sum / runs,
              pct(0.5), pct(0.9), pct(0.99), micros.front());
  std::printf("  goal < 2000 us: %s\n", pct(0.5) < 2000 ? "met" : "MISSED");
  return 0;
}
