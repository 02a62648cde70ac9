// `entrenar plan FILE`: what a manifest asks for, computed from the manifest alone (plus a row
// count of a local text data file). `entrenar train --dry-run` adds what needs the engine.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "entrenar/base/strings.h"
#include "entrenar/cli/cli.h"
#include "entrenar/expr/value.h"
#include "entrenar/manifest/load.h"

#include "commands.h"
#include "manifest_input.h"

namespace entrenar::cli {
namespace {

using manifest::Manifest;

std::string Thousands(std::int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

// Rows of a local CSV/TSV (minus its header) or JSONL file; nullopt for anything else.
std::optional<std::int64_t> CountRows(const std::string& source, const std::string& format,
                                      const std::string& base_dir) {
  if (source.find("://") != std::string::npos) return std::nullopt;
  const std::filesystem::path p = std::filesystem::path(source).is_absolute()
                                      ? std::filesystem::path(source)
                                      : std::filesystem::path(base_dir) / source;
  std::string fmt = format;
  if (fmt == "auto") fmt = p.extension().string().substr(p.extension().empty() ? 0 : 1);
  if (fmt != "csv" && fmt != "tsv" && fmt != "jsonl") return std::nullopt;
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::int64_t rows = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (!Trim(line).empty()) ++rows;
  }
  return fmt == "jsonl" ? rows : std::max<std::int64_t>(0, rows - 1);
}

struct LayerSummary {
  std::string text;
  double params = 0;
};

LayerSummary Summarize(const manifest::Layer& l) {
  auto f = [](double v) { return expr::FormatDouble(v); };
  auto d = [](std::int64_t v) { return static_cast<double>(v); };
  if (l.linear) {
    return {"linear " + std::to_string(l.linear->in_features) + "→" +
                std::to_string(l.linear->out_features),
            d(l.linear->in_features) * d(l.linear->out_features) +
                (l.linear->bias ? d(l.linear->out_features) : 0)};
  }
  if (l.conv1d || l.conv2d) {
    const auto& c = l.conv1d ? *l.conv1d : *l.conv2d;
    const double k = l.conv1d ? d(c.kernel_size) : d(c.kernel_size) * d(c.kernel_size);
    return {std::string(l.conv1d ? "conv1d " : "conv2d ") + std::to_string(c.in_channels) + "→" +
                std::to_string(c.out_channels) + " k" + std::to_string(c.kernel_size),
            d(c.in_channels) * d(c.out_channels) * k + (c.bias ? d(c.out_channels) : 0)};
  }
  if (l.max_pool1d || l.max_pool2d) return {l.max_pool1d ? "max_pool1d" : "max_pool2d", 0};
  if (l.avg_pool1d || l.avg_pool2d) return {l.avg_pool1d ? "avg_pool1d" : "avg_pool2d", 0};
  if (l.flatten) return {"flatten", 0};
  if (l.batchnorm)
    return {"batchnorm " + std::to_string(l.batchnorm->num_features),
            2 * d(l.batchnorm->num_features)};
  if (l.layernorm)
    return {"layernorm " + std::to_string(l.layernorm->normalized_shape),
            2 * d(l.layernorm->normalized_shape)};
  if (l.embedding) {
    return {"embedding " + std::to_string(l.embedding->num_embeddings) + "×" +
                std::to_string(l.embedding->embedding_dim),
            d(l.embedding->num_embeddings) * d(l.embedding->embedding_dim)};
  }
  if (l.dropout) return {"dropout " + f(l.dropout->p), 0};
  if (l.activation) return {l.activation->type, 0};
  return {"?", 0};
}

// Parameters of a LLaMA-style decoder with the manifest's sizes (in double: sizes are user input
// and their products may not fit an integer).
std::optional<double> TransformerParams(const manifest::ArchitectureConfig& a) {
  if (!a.hidden_size || !a.num_layers || !a.num_heads || !a.vocab_size) return std::nullopt;
  const double h = static_cast<double>(*a.hidden_size);
  const double layers = static_cast<double>(*a.num_layers);
  const double v = static_cast<double>(*a.vocab_size);
  const double kv = static_cast<double>(a.num_kv_heads.value_or(*a.num_heads));
  const double head = h / static_cast<double>(*a.num_heads);
  // The engine's default MLP width: 8/3 of hidden, rounded up to a multiple of 64 (LLaMA's).
  const double inter =
      static_cast<double>(a.intermediate_size.value_or((8 * *a.hidden_size / 3 + 63) / 64 * 64));
  const double attn = h * h * 2 + 2 * h * head * kv;
  const double mlp = 3 * h * inter;
  const double embed = v * h * (a.tie_word_embeddings.value_or(false) ? 1 : 2);
  return embed + layers * (attn + mlp + 2 * h) + h;
}

std::string Count(double n) {
  if (n < 9e15) return Thousands(static_cast<std::int64_t>(n));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", n);
  return buf;
}

int RunPlan(const std::string& file, const std::vector<std::string>& overrides) {
  manifest::LoadOptions options;
  options.overrides = overrides;
  manifest::LoadResult r = LoadManifestArg(file, options);
  PrintDiagnostics(r.diagnostics);
  if (!r.ok()) return kExitInvalid;
  const Manifest& m = *r.manifest;
  std::ostringstream out;
  out << "Plan for " << m.name << " " << m.version << " (" << file << ")\n";

  // Data.
  const auto& d = m.data;
  std::optional<std::int64_t> rows;
  if (d.source) {
    rows = CountRows(*d.source, d.format, BaseDir(file));
    const std::string ext = std::filesystem::path(*d.source).extension().string();
    const std::string format = d.format != "auto" ? d.format
                               : ext.size() > 1   ? ext.substr(1) + ", from the extension"
                                                  : "format unknown";
    out << "  data        " << *d.source << " (" << format
        << (rows ? ", " + Thousands(*rows) + " rows" : std::string()) << ")\n";
  } else if (d.train) {
    out << "  data        train " << *d.train << (d.val ? ", val " + *d.val : std::string())
        << (d.test ? ", test " + *d.test : std::string()) << "\n";
  } else {
    out << "  data        (none given)\n";
  }
  std::optional<std::int64_t> train_rows;
  if (d.source && !d.train) {
    const manifest::SplitConfig split = manifest::EffectiveSplit(d);
    out << "  split       train " << expr::FormatDouble(split.train) << " / val "
        << expr::FormatDouble(split.val) << " / test " << expr::FormatDouble(split.test);
    if (rows) {
      const auto val = static_cast<std::int64_t>(std::floor(*rows * split.val));
      const auto test = static_cast<std::int64_t>(std::floor(*rows * split.test));
      train_rows = *rows - val - test;
      out << " ≈ " << *train_rows << " / " << val << " / " << test << " rows";
    }
    if (split.stratify) out << ", stratified by " << *split.stratify;
    out << "\n";
  }
  const bool text = std::any_of(d.preprocessing.begin(), d.preprocessing.end(),
                                [](const auto& step) { return step.tokenize.has_value(); });
  if (text) {
    out << "  task        causal language model (loss on the answers of instruction records)\n";
  } else {
    out << "  target      " << d.target << "\n";
  }
  for (const auto& step : d.preprocessing) {
    if (step.normalize) {
      out << "  preprocess  normalize " << step.normalize->method << " ("
          << (step.normalize->columns ? std::to_string(step.normalize->columns->size()) + " columns"
                                      : std::string("all numeric columns"))
          << ")\n";
    } else if (step.encode) {
      out << "  preprocess  encode " << step.encode->method << " "
          << Join(step.encode->columns, ", ") << "\n";
    } else if (step.drop) {
      out << "  preprocess  drop " << Join(step.drop->columns, ", ") << "\n";
    } else if (step.fillna) {
      out << "  preprocess  fillna " << step.fillna->strategy << "\n";
    } else if (step.tokenize) {
      out << "  preprocess  tokenize with " << step.tokenize->tokenizer << " (max "
          << step.tokenize->max_length << " tokens)\n";
    }
  }
  out << "  batches     " << d.loader.batch_size << (d.loader.shuffle ? ", shuffled" : "")
      << (m.training.gradient.accumulation_steps > 1
              ? ", " + std::to_string(m.training.gradient.accumulation_steps) +
                    " accumulated per step"
              : std::string())
      << "\n";

  // Model.
  const auto& arch = m.model.architecture;
  if (arch && arch->type == "sequential") {
    double params = 0;
    std::vector<std::string> names;
    for (const auto& l : arch->layers) {
      LayerSummary s = Summarize(l);
      params += s.params;
      names.push_back(s.text);
    }
    out << "  model       sequential: " << Join(names, ", ") << "\n";
    out << "  parameters  " << Count(params) << "\n";
  } else if (arch) {
    out << "  model       transformer";
    if (auto p = TransformerParams(*arch)) out << ", ≈" << Count(*p) << " parameters";
    out << "\n";
  }
  if (m.model.source) out << "  weights     from " << *m.model.source << "\n";
  out << "  device      " << m.model.device << ", " << m.model.dtype
      << (m.training.mixed_precision.enabled
              ? ", mixed precision " + m.training.mixed_precision.dtype
              : std::string())
      << "\n";
  if (m.lora.enabled) {
    out << "  lora        rank " << m.lora.rank << ", alpha " << expr::FormatDouble(m.lora.alpha)
        << " on "
        << (m.lora.target_modules.empty() ? *m.lora.target_modules_pattern
                                          : Join(m.lora.target_modules, ", "))
        << (m.lora.quantize_base ? " (QLoRA " + m.lora.quant_type + ")" : std::string()) << "\n";
  }

  // Optimisation and budget.
  out << "  optimizer   " << m.optimizer.name << ", lr " << expr::FormatDouble(m.optimizer.lr)
      << ", weight decay " << expr::FormatDouble(m.optimizer.weight_decay) << "\n";
  out << "  schedule    " << m.scheduler.name;
  if (m.scheduler.warmup.ratio) {
    char pct[32];
    std::snprintf(pct, sizeof(pct), "%g", *m.scheduler.warmup.ratio * 100);
    out << " after " << pct << "% warmup";
  } else if (m.scheduler.warmup.steps.value_or(0) > 0) {
    out << " after " << *m.scheduler.warmup.steps << " warmup steps";
  }
  out << "\n";
  const auto& t = m.training;
  std::optional<std::int64_t> steps_per_epoch;
  if (train_rows) {
    const std::int64_t batch = d.loader.batch_size * t.gradient.accumulation_steps;
    steps_per_epoch = d.loader.drop_last ? *train_rows / batch : (*train_rows + batch - 1) / batch;
  }
  out << "  budget      ";
  if (t.max_steps) {
    out << *t.max_steps << " steps";
  } else if (t.duration) {
    out << t.duration->text << " of wall-clock time";
  } else {
    const std::int64_t epochs = manifest::EffectiveEpochs(t);
    out << epochs << " epochs";
    if (steps_per_epoch) {
      out << " × " << *steps_per_epoch << " steps = " << epochs * *steps_per_epoch << " steps";
    }
  }
  if (t.early_stopping.enabled) {
    out << ", early stop on " << t.early_stopping.metric << " after " << t.early_stopping.patience
        << " without improvement";
  }
  out << "\n";
  out << "  checkpoints every " << t.checkpoint.save_every << " steps, keep "
      << t.checkpoint.keep_last
      << (t.checkpoint.save_best.value_or(true)
              ? ", best by " + t.checkpoint.metric + " (" + t.checkpoint.mode + ")"
              : std::string())
      << "\n";
  out << "  alerts      " << m.monitoring.alerts.size() << "\n";
  out << "  output      " << m.output.dir << " (" << m.output.model.format << " model, "
      << m.output.metrics.format << " metrics)\n";
  std::cout << out.str();
  return kExitOk;
}

}  // namespace

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto file = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand("plan", "Validate a manifest and print what it would run");
  cmd->add_option("FILE", *file, "The manifest (- for standard input)")->required();
  cmd->add_option("--set", *overrides, "Override a key: PATH=VALUE (repeatable)");
  cmd->callback([file, overrides, exit_code] { *exit_code = RunPlan(*file, *overrides); });
}

}  // namespace entrenar::cli
