// `entrenar plan FILE`: what a manifest asks for, computed from the manifest and its local data
// files by the same torch-free arithmetic the trainer uses (entrenar/plan): split sizes, steps,
// parameters. `entrenar train --dry-run` adds what needs the engine (tokenized text, memory).
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
#include "entrenar/plan/budget.h"
#include "entrenar/plan/images.h"
#include "entrenar/plan/params.h"
#include "entrenar/plan/split.h"
#include "entrenar/plan/support.h"

#include "commands.h"

namespace entrenar::cli {
namespace {

using manifest::Manifest;

std::string Thousands(std::int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

std::string Describe(const manifest::Layer& l) {
  if (l.linear) {
    return "linear " + std::to_string(l.linear->in_features) + "→" +
           std::to_string(l.linear->out_features);
  }
  if (l.conv1d || l.conv2d) {
    const auto& c = l.conv1d ? *l.conv1d : *l.conv2d;
    return std::string(l.conv1d ? "conv1d " : "conv2d ") + std::to_string(c.in_channels) + "→" +
           std::to_string(c.out_channels) + " k" + std::to_string(c.kernel_size);
  }
  if (l.max_pool1d || l.max_pool2d) return l.max_pool1d ? "max_pool1d" : "max_pool2d";
  if (l.avg_pool1d || l.avg_pool2d) return l.avg_pool1d ? "avg_pool1d" : "avg_pool2d";
  if (l.flatten) return "flatten";
  if (l.batchnorm) return "batchnorm " + std::to_string(l.batchnorm->num_features);
  if (l.layernorm) return "layernorm " + std::to_string(l.layernorm->normalized_shape);
  if (l.embedding) {
    return "embedding " + std::to_string(l.embedding->num_embeddings) + "×" +
           std::to_string(l.embedding->embedding_dim);
  }
  if (l.dropout) return "dropout " + expr::FormatDouble(l.dropout->p);
  if (l.activation) return l.activation->type;
  return "?";
}

std::string Count(double n) {
  if (n < 9e15) return Thousands(static_cast<std::int64_t>(n));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", n);
  return buf;
}

void PlanPreprocessing(const Manifest& m, std::ostream& out) {
  for (const auto& step : m.data.preprocessing) {
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
}

std::string TransformText(const image::Transform& t) {
  using Kind = image::Transform::Kind;
  const auto size = [&] {
    return t.size.size() == 2 ? std::to_string(t.size[0]) + " x " + std::to_string(t.size[1])
                              : std::to_string(t.size[0]);
  };
  switch (t.kind) {
    case Kind::kResize:
      return "resize " + size();
    case Kind::kCenterCrop:
      return "center_crop " + size();
    case Kind::kRandomCrop:
      return "random_crop " + size() +
             (t.padding ? " (padding " + std::to_string(t.padding) + ")" : std::string());
    case Kind::kRandomResizedCrop:
      return "random_resized_crop " + size() + " (scale " + expr::FormatDouble(t.scale_min) + "-" +
             expr::FormatDouble(t.scale_max) + ")";
    case Kind::kColorJitter:
      return "color_jitter (brightness " + expr::FormatDouble(t.brightness) + ", contrast " +
             expr::FormatDouble(t.contrast) + ", saturation " + expr::FormatDouble(t.saturation) +
             ", hue " + expr::FormatDouble(t.hue) + ")";
    case Kind::kRotation:
      return "rotation ±" + expr::FormatDouble(t.degrees) + " degrees" +
             (t.fill ? " (fill " + std::to_string(t.fill) + ")" : std::string());
    case Kind::kHorizontalFlip:
    case Kind::kVerticalFlip:
      return std::string(t.kind == Kind::kHorizontalFlip ? "horizontal" : "vertical") +
             "_flip p=" + expr::FormatDouble(t.probability);
  }
  return "?";
}

// Image data: the set, the first image's decoded size and what the transforms make of it, and
// the pipeline (random steps marked: they run on training images only).
void PlanImages(const Manifest& m, const std::string& base_dir, std::ostream& out) {
  const auto& d = m.data;
  const std::string key = d.source ? "data.source" : "data.train";
  Result<image::ImageSet> set = plan::LoadImages(d, base_dir, key, d.source ? *d.source : *d.train);
  const char* kind[] = {"a folder of class folders", "idx", "CIFAR batches", "a table of images"};
  if (!set.ok()) {
    out << "  images      unknown: " << set.status().message() << "\n";
    return;
  }
  out << "  images      " << kind[static_cast<int>(set->format)] << ", " << set->classes.size()
      << " classes";
  if (set->size() > 0) {
    if (Result<image::Image> first = set->Get(0); first.ok()) {
      const std::vector<image::Transform> t = plan::ImageTransforms(d);
      const auto [h, w] = image::TransformedSize(t, first->height, first->width, false);
      out << "; decoded " << first->channels << " x " << first->height << " x " << first->width
          << " (the first), the model reads " << first->channels << " x " << h << " x " << w;
    } else {
      out << "; " << first.status().message();
    }
  }
  out << "\n";
  std::vector<std::string> steps;
  for (const image::Transform& t : plan::ImageTransforms(d)) {
    steps.push_back(TransformText(t) + (t.Random() ? " (train)" : ""));
  }
  if (const manifest::NormalizeImageStep* n = plan::NormalizeOf(d)) {
    std::vector<std::string> mean, std;
    for (double v : n->mean) mean.push_back(expr::FormatDouble(v));
    for (double v : n->std) std.push_back(expr::FormatDouble(v));
    steps.push_back("/255, normalize mean [" + Join(mean, ", ") + "] std [" + Join(std, ", ") +
                    "]");
  } else {
    steps.push_back("/255");
  }
  out << "  transforms  " << Join(steps, " → ") << "\n";
}

// The data lines: sources, the split's exact row counts (as training splits them), the task,
// preprocessing and batches. Returns the training rows when they are known without tokenizing.
std::optional<std::int64_t> PlanData(const Manifest& m, const std::string& base_dir,
                                     std::ostream& out) {
  const auto& d = m.data;
  const Result<plan::SplitSizes> sizes = plan::CountSplits(m, base_dir);
  const bool images = plan::ImageFormat(d, base_dir).has_value();
  const std::string rows = images ? " images" : " rows";
  if (d.source) {
    const std::string ext = std::filesystem::path(*d.source).extension().string();
    const std::string format = d.format != "auto" ? d.format
                               : images           ? "images"
                               : ext.size() > 1   ? ext.substr(1) + ", from the extension"
                                                  : "format unknown";
    out << "  data        " << *d.source << " (" << format
        << (sizes.ok() ? ", " + Thousands(sizes->train + sizes->val + sizes->test) + rows
                       : std::string())
        << ")\n";
  } else if (d.train) {
    out << "  data        train " << *d.train << (d.val ? ", val " + *d.val : std::string())
        << (d.test ? ", test " + *d.test : std::string()) << "\n";
  } else {
    out << "  data        (none given)\n";
  }
  if (!sizes.ok() && (d.source || d.train)) {
    out << "  rows        unknown: " << sizes.status().message() << "\n";
  }
  const bool text = plan::IsLanguageModel(m);
  if (d.source && !d.train) {
    const manifest::SplitConfig split = manifest::EffectiveSplit(d);
    out << "  split       train " << expr::FormatDouble(split.train) << " / val "
        << expr::FormatDouble(split.val) << " / test " << expr::FormatDouble(split.test);
    if (sizes.ok()) {
      out << " = " << Thousands(sizes->train) << " / " << Thousands(sizes->val) << " / "
          << Thousands(sizes->test) << (text ? " records" : rows);
    }
    if (split.stratify && !text) out << ", stratified by " << *split.stratify;
    out << "\n";
  } else if (d.train && sizes.ok()) {
    out << "  split       " << Thousands(sizes->train) << " / " << Thousands(sizes->val) << " / "
        << Thousands(sizes->test) << (text ? " records" : rows) << "\n";
  }
  if (images) PlanImages(m, base_dir, out);
  if (text) {
    out << "  task        causal language model (loss on the answers of instruction records)\n";
  } else {
    out << "  target      " << d.target << "\n";
  }
  PlanPreprocessing(m, out);
  for (const manifest::AugmentStep& a : d.augmentation) {
    if (!text || !(a.random_swap || a.random_delete)) continue;
    out << "  augment     " << (a.random_swap ? "random_swap" : "random_delete") << " p="
        << expr::FormatDouble((a.random_swap ? *a.random_swap : *a.random_delete).probability)
        << " (each token of the training text or records' fields, drawn again each epoch)\n";
  }
  const std::int64_t ranks = plan::WorldSize(m);
  out << "  batches     " << d.loader.batch_size
      << (ranks > 1 ? " per rank (" + std::to_string(d.loader.batch_size * ranks) + " across " +
                          std::to_string(ranks) + " ranks)"
                    : std::string())
      << (d.loader.shuffle ? ", shuffled" : "")
      << (m.training.gradient.accumulation_steps > 1
              ? ", " + std::to_string(m.training.gradient.accumulation_steps) +
                    " accumulated per step"
              : std::string())
      << (d.loader.drop_last ? ", the last partial batch dropped" : "") << "\n";
  // A language model's sequences are known after tokenizing (and packing); a fold's rows
  // after dealing: `train --dry-run` says.
  if (!sizes.ok() || text || m.training.validation.cross_validation) return std::nullopt;
  return sizes->train;
}

void PlanModel(const Manifest& m, std::ostream& out) {
  const auto& arch = m.model.architecture;
  const std::optional<double> params = arch ? plan::ModelParameters(*arch) : std::nullopt;
  if (arch && arch->type == "sequential") {
    std::vector<std::string> names;
    for (const auto& l : arch->layers) names.push_back(Describe(l));
    out << "  model       sequential: " << Join(names, ", ") << "\n";
    out << "  parameters  " << Count(*params) << "\n";
  } else if (arch) {
    out << "  model       transformer";
    if (params) out << ", " << Count(*params) << " parameters";
    out << "\n";
  }
  if (m.model.source) out << "  weights     from " << *m.model.source << "\n";
  out << "  device      " << m.model.device << ", " << m.model.dtype
      << (m.training.mixed_precision.enabled
              ? ", mixed precision " + m.training.mixed_precision.dtype
              : std::string())
      << "\n";
  if (plan::WorldSize(m) > 1) {
    out << "  ranks       " << plan::WorldSize(m)
        << " data-parallel processes (ddp: gradients averaged over c10d Gloo); rank r trains "
        << "on rows r, r+" << plan::WorldSize(m) << ", ... of each epoch's order\n";
  }
  if (m.lora.enabled) {
    out << "  lora        rank " << m.lora.rank << ", alpha " << expr::FormatDouble(m.lora.alpha)
        << " on "
        << (m.lora.target_modules.empty() ? *m.lora.target_modules_pattern
                                          : Join(m.lora.target_modules, ", "))
        << (m.lora.quantize_base ? " (QLoRA " + m.lora.quant_type + ")" : std::string()) << "\n";
  }
}

// The budget line, in the trainer's own arithmetic (plan::ComputeBudget).
int PlanBudget(const Manifest& m, std::optional<std::int64_t> train_rows, std::ostream& out) {
  const auto& t = m.training;
  out << "  budget      ";
  std::optional<plan::Budget> budget;
  if (train_rows) {
    Result<plan::Budget> b = plan::ComputeBudget(m, *train_rows);
    if (!b.ok()) {
      out << "\n";
      std::cerr << "error: " << b.status().message() << "\n";
      return kExitInvalid;
    }
    budget = *b;
  }
  if (t.max_steps) {
    out << *t.max_steps << " steps";
    if (budget) out << " (" << budget->steps_per_epoch << " per epoch)";
  } else if (t.duration) {
    out << t.duration->text << " of wall-clock time";
    if (budget) out << " (" << budget->steps_per_epoch << " steps per epoch)";
  } else {
    out << manifest::EffectiveEpochs(t) << " epochs";
    if (budget) {
      out << " × " << budget->steps_per_epoch << " steps = " << budget->total_steps << " steps";
    }
  }
  if (t.early_stopping.enabled) {
    out << ", early stop on " << t.early_stopping.metric << " after " << t.early_stopping.patience
        << " without improvement";
  }
  out << "\n";
  return kExitOk;
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
  const std::optional<std::int64_t> train_rows = PlanData(m, BaseDir(file), out);
  PlanModel(m, out);
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
  if (int rc = PlanBudget(m, train_rows, out); rc != kExitOk) return rc;
  const auto& t = m.training;
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
