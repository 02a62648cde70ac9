#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/monitor/metrics_table.h"
#include "entrenar/monitor/quality.h"

namespace entrenar::worker {

// What a finished run leaves besides the model and its metrics (docs/training.md, "The run
// directory"): environment.yaml, summary.json, quality.yaml, the report, the registry entry.

// environment.yaml: entrenar, the compiler and the engine's build and machine.
std::string EnvironmentYaml();

// summary.json's content.
nlohmann::ordered_json SummaryJson(const engine::TrainSummary& s);

// The quality score (SPEC §16) of a finished run from its rows and summary.
monitor::QualityScore Quality(const monitor::MetricTable& t, const engine::TrainSummary& s);

// output.report: report.md with plots/*.svg, and for `html` also the self-contained
// report.html. Returns false if a file could not be written.
bool WriteReport(const manifest::Manifest& m, const std::string& dir, const engine::TrainSummary& s,
                 const monitor::MetricTable& table, const monitor::QualityScore& quality);

// output.registry: the model, config, metrics and quality into the local registry.
bool Publish(const manifest::Manifest& m, const std::string& dir, const engine::TrainSummary& s,
             const monitor::QualityScore& quality);

// The test split's confusion matrix as a table on stdout: rows are true classes.
void PrintConfusion(const std::vector<std::string>& classes,
                    const std::vector<std::vector<std::int64_t>>& m);

}  // namespace entrenar::worker
