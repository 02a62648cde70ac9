// What the engine runs: the keys it lacks come from visit.h (NotBuilt rules); values and
// combinations it lacks are refused here, with a hint.
#include "entrenar/plan/support.h"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "entrenar/base/strings.h"
#include "entrenar/fetch/hf_uri.h"
#include "entrenar/fetch/localize.h"
#include "entrenar/fetch/s3.h"
#include "entrenar/formats/table.h"
#include "entrenar/manifest/load.h"
#include "entrenar/manifest/schema.h"
#include "entrenar/plan/params.h"
#include "entrenar/plan/split.h"
#include "entrenar/registry/registry.h"

namespace entrenar::plan {

const manifest::TokenizeStep* FindTokenize(const manifest::Manifest& m) {
  for (const auto& step : m.data.preprocessing) {
    if (step.tokenize) return &*step.tokenize;
  }
  return nullptr;
}

bool IsLanguageModel(const manifest::Manifest& m) {
  const auto& arch = m.model.architecture;
  return FindTokenize(m) != nullptr || (arch && arch->type == "transformer");
}

namespace {

// "data.preprocessing[2].tokenize" -> "data.preprocessing[].tokenize", as KeyPaths writes it.
std::string WithoutIndices(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    out += path[i];
    if (path[i] != '[') continue;
    while (i + 1 < path.size() && path[i + 1] != ']') ++i;
  }
  return out;
}

bool Under(const std::string& path, const std::string& key) {
  return path == key || path.rfind(key + ".", 0) == 0 || path.rfind(key + "[", 0) == 0;
}

// The keys the manifest reads but the engine does not run (visit.h's NotBuilt rules): each
// written one is refused once, at its shallowest key, with its hint.
void CheckBuilt(const manifest::Manifest& m, std::vector<manifest::Diagnostic>& out) {
  static const std::vector<manifest::NotBuiltKey> not_built = manifest::NotBuiltKeys();
  std::vector<std::string> reported;
  for (const auto& located : m.locations) {  // sorted: a parent before its children
    const std::string& path =
        located.first;  // not a binding: clang 14's lambdas cannot capture one
    const auto& loc = located.second;
    const std::string general = WithoutIndices(path);
    for (const manifest::NotBuiltKey& k : not_built) {
      if (!Under(general, k.path)) continue;
      // Written at its default (`augmentation: []`, `save_optimizer: false`): asks for nothing.
      if (general == k.path && !k.default_json.empty() &&
          manifest::ValueJson(m, path) == k.default_json) {
        break;
      }
      const bool below = std::any_of(reported.begin(), reported.end(),
                                     [&](const std::string& r) { return Under(path, r); });
      if (below) break;
      reported.push_back(path);
      out.push_back(
          {manifest::Severity::kError, path, loc, "not supported yet: " + path, {k.hint}});
      break;
    }
  }
}

using Refuse = std::function<void(const std::string&, const std::string&, const std::string&)>;

// training.distributed: DDP over c10d (ProcessGroupGloo); sharded strategies are not built.
void CheckDistributed(const manifest::Manifest& m, const Refuse& refuse) {
  if (!m.training.distributed) return;
  const manifest::DistributedConfig& d = *m.training.distributed;
  if (d.strategy == "fsdp") {
    refuse("training.distributed.strategy", "fsdp (sharding optimizer state and gradients)",
           "use ddp: every rank keeps the whole model and optimizer; entrenar's models fit one "
           "device, and sharding (ZeRO) is not built");
  } else if (d.strategy == "deepspeed") {
    refuse("training.distributed.strategy", "deepspeed (a Python library)",
           "use ddp, which entrenar runs itself over c10d");
  }
  if (d.gradient_as_bucket_view) {
    refuse("training.distributed.gradient_as_bucket_view",
           "true (gradients as views of the all-reduce buckets)",
           "leave it false: entrenar copies each bucket's mean back into the gradients");
  }
  if (d.world_size > 1 && m.training.validation.cross_validation) {
    refuse("training.validation.cross_validation", "cross-validation in a data-parallel run",
           "cross-validate with world_size: 1 (the folds of a small data set train in seconds)");
  }
}

void CheckCallbacks(const manifest::Manifest& m, const Refuse& refuse, bool language_model) {
  for (std::size_t i = 0; i < m.callbacks.size(); ++i) {
    const manifest::CallbackConfig& cb = m.callbacks[i];
    const std::string path = "callbacks[" + std::to_string(i) + "]";
    if (cb.script) {
      refuse(path + ".script", "an inline script (entrenar runs commands, not embedded Python)",
             "save the script as a file and run it: command: [python3, hooks/" + cb.type +
                 ".py]; it gets the run's state as JSON on stdin");
    }
    const bool step_bound = cb.type == "gradient_monitor" || cb.type == "lr_monitor";
    if (step_bound && cb.trigger != "step" && cb.trigger != "epoch_end") {
      refuse(path + ".trigger", cb.trigger + " for " + cb.type,
             cb.type + " reads the optimizer step: use trigger step or epoch_end");
    }
    for (const char* k : {"max_tokens", "temperature"}) {
      if (!language_model && m.IsSet(path + ".config." + k)) {
        refuse(path + ".config." + k, k, "generation options belong to language models");
      }
    }
  }
}

void CheckOutputs(const manifest::Manifest& m, std::vector<manifest::Diagnostic>& out,
                  const Refuse& refuse) {
  const auto& reg = m.output.registry;
  if (reg.enabled) {
    const std::string target = reg.target.value_or(registry::DefaultTarget(m.name, m.version));
    if (target.rfind("pacha://", 0) != 0) {
      refuse("output.registry.target", target + " (only pacha://, the local registry)",
             "publish to pacha://models/NAME:VERSION and copy from `entrenar registry show`");
    } else if (Result<registry::Ref> ref = registry::ParseModelRef(target); !ref.ok()) {
      out.push_back({manifest::Severity::kError,
                     "output.registry.target",
                     m.LocationOf("output.registry.target"),
                     "output.registry.target: " + ref.status().message(),
                     {"e.g. target: \"pacha://models/{{ name }}:{{ version }}\""}});
    }
  }
  const auto& tracking = m.monitoring.tracking;
  if (tracking.enabled && tracking.backend == "mlflow" && tracking.uri &&
      tracking.uri->rfind("http://", 0) != 0) {
    refuse("monitoring.tracking.uri", *tracking.uri + " (the mlflow backend speaks plain http://)",
           "for https, run a TLS-terminating proxy on localhost and give its http:// address");
  }
  if (m.output.report.enabled && m.output.report.format == "pdf" && ChromiumBinary().empty()) {
    refuse("output.report.format",
           "pdf without Chromium (a pdf report is report.html printed by "
           "headless Chromium)",
           "install Debian's chromium package, or set format: html");
  }
}

// LoRA on a sequential model adapts the linear layers lora.target_modules names, and trains
// nothing else.
void CheckSequentialLora(const manifest::Manifest& m, const Refuse& refuse) {
  const auto& arch = m.model.architecture;
  if (!arch || arch->type != "sequential") {
    refuse("lora", "LoRA on a " + (arch ? arch->type : std::string()) + " model",
           "LoRA adapts a transformer's projections or a sequential model's linear layers");
    return;
  }
  std::vector<std::string> linear;
  for (std::size_t i = 0; i < arch->layers.size(); ++i) {
    if (arch->layers[i].linear) linear.push_back("layers." + std::to_string(i));
  }
  std::string names;
  for (const std::string& l : linear) names += (names.empty() ? "" : ", ") + l;
  const std::string hint = "name linear layers: target_modules: [layers.0] (the model's are " +
                           (names.empty() ? std::string("none") : names) + ")";
  if (m.lora.target_modules.empty()) refuse("lora.target_modules", "no layer to adapt", hint);
  for (const std::string& t : m.lora.target_modules) {
    manifest::LoraConfig one;
    one.target_modules = {t};
    const bool any = std::any_of(linear.begin(), linear.end(),
                                 [&](const std::string& l) { return LoraTargetsLayer(one, l); });
    if (!any) refuse("lora.target_modules", "`" + t + "`, which names no linear layer", hint);
  }
  if (m.lora.target_modules_pattern) {
    refuse("lora.target_modules_pattern", "a pattern on a sequential model", hint);
  }
  if (m.lora.quantize_base) {
    refuse("lora.quantize_base", "a 4-bit base of a sequential model",
           "quantize_base belongs to language models (QLoRA)");
  }
  if (m.lora.bias != "none") {
    refuse("lora.bias", m.lora.bias, "a sequential model's LoRA trains the adapters only");
  }
  if (m.quantize.enabled) {
    refuse("quantize.enabled", "quantizing a LoRA run",
           "train the adapters, then quantize the merged model.safetensors in a run of its own");
  }
  if (m.output.model.format == "pt") {
    refuse("output.model.format", "pt with LoRA",
           "use safetensors: model.safetensors holds the merged weights, "
           "adapter_model.safetensors the adapters");
  }
}

bool IsRemote(const std::string& source) {
  return source.find("://") != std::string::npos && source.rfind("file://", 0) != 0;
}

// A remote source the run cannot fetch: any but a well-formed hf://, s3:// or pacha:// reference
// of the right kind (fetched or found when the run starts, common/fetch). Refuses it with the
// reason.
bool Unfetchable(const std::string& key, const std::string& source, fetch::RepoType bare,
                 const std::string& what, const std::string& hint, const Refuse& refuse) {
  if (!IsRemote(source)) return false;
  Status parsed = OkStatus();
  if (fetch::IsHfUri(source)) {
    parsed = fetch::ParseHfUri(source, bare).status();
  } else if (source.rfind("s3://", 0) == 0) {
    parsed = fetch::ParseS3Uri(source).status();
  } else if (registry::IsPachaUri(source)) {
    Result<registry::Ref> ref = registry::ParseRef(source);
    parsed = ref.ok() ? fetch::CheckPachaKind(*ref, bare) : ref.status();
  } else {
    refuse(key,
           what + " (" + source + "); hf://, s3:// and pacha:// are fetched, other schemes are not",
           hint);
    return true;
  }
  if (!parsed.ok()) {
    refuse(key, parsed.message(),
           "write hf://ORG/NAME[@REVISION][/PATH], s3://BUCKET/KEY or pacha://KIND/NAME:VERSION");
    return true;
  }
  return false;
}

// What to do with data in a format no reader here reads.
std::string UnreadFormatHint(const std::string& kind) {
  if (kind == "arrow") {
    return "Arrow IPC files are not read: write Parquet instead (pyarrow.parquet.write_table, "
           "or DuckDB: COPY (FROM 'data.arrow') TO 'data.parquet')";
  }
  if (kind == "ald") {
    return "ald is the data format of paiml's alimentar, which entrenar does not read: export "
           "the data to parquet, csv or jsonl";
  }
  return "convert the data to parquet, csv, tsv, jsonl or json";
}

// Data files in a format the readers lack (arrow, ald) and remote data that is not fetched are
// refused here, before the run, not when they are read.
void CheckDataFormat(const manifest::Manifest& m, const Refuse& refuse) {
  const manifest::DataConfig& d = m.data;
  if (d.format == "images" || d.format == "idx" || d.format == "cifar") return;
  for (const auto& [key, file] : {std::pair{"data.source", d.source},
                                  {"data.train", d.train},
                                  {"data.val", d.val},
                                  {"data.test", d.test}}) {
    if (!file) continue;
    if (IsRemote(*file)) {
      Unfetchable(key, *file, fetch::RepoType::kDataset, "remote data",
                  "give hf://ORG/NAME (a data set on the Hugging Face Hub) or a local path",
                  refuse);
      continue;
    }
    const Result<formats::TableFormat> format = formats::ResolveTableFormat(d.format, *file);
    if (format.ok() || format.status().code() != StatusCode::kUnimplemented) continue;
    const bool named = d.format != "auto";
    const std::string kind = named ? d.format : file->substr(file->find_last_of('.') + 1);
    refuse(named ? "data.format" : key, "reading " + kind + " data (" + *file + ")",
           UnreadFormatHint(kind));
    return;
  }
}

bool MeantAsLanguageModel(const manifest::Manifest& m);

// Whether the manifest's data is an image data set, as far as its keys and names tell (the
// folders are not looked at: validate, entrenard and the worker see the manifest from different
// places): data.image.column, an image format, or under `auto` a path no table format reads and
// that is not remote (a folder, an idx or CIFAR file).
bool MeantAsImages(const manifest::Manifest& m) {
  const manifest::DataConfig& d = m.data;
  if (d.image.column || d.format == "images" || d.format == "idx" || d.format == "cifar") {
    return true;
  }
  const std::optional<std::string>& first = d.source ? d.source : d.train;
  if (!first || IsRemote(*first) || d.format != "auto") return false;
  const Result<formats::TableFormat> table = formats::ResolveTableFormat(d.format, *first);
  return !table.ok() && table.status().code() == StatusCode::kInvalidArgument;
}

// What image data does not run with: remote image folders, tabular preprocessing, losses other
// than cross-entropy, cross-validation, an embedding first layer.
void CheckImages(const manifest::Manifest& m, const Refuse& refuse) {
  const manifest::DataConfig& d = m.data;
  for (const auto& [key, file] : {std::pair{"data.source", d.source},
                                  {"data.train", d.train},
                                  {"data.val", d.val},
                                  {"data.test", d.test}}) {
    if (file && IsRemote(*file) && !d.image.column) {
      refuse(key, "image files from " + *file + " (only tables are fetched)",
             "download the images and name the local folder, or publish them as a table of "
             "{bytes, path} images (data.image.column)");
    }
  }
  if (!d.preprocessing.empty()) {
    refuse("data.preprocessing", "table preprocessing of images",
           "images are transformed by data.augmentation (resize, crops, normalize)");
  }
  if (m.training.loss != "auto" && m.training.loss != "cross_entropy") {
    refuse("training.loss", m.training.loss + " on image classes",
           "images train a classifier: loss cross_entropy (or auto)");
  }
  if (m.training.validation.cross_validation) {
    refuse("training.validation.cross_validation", "cross-validation of image data",
           "validate on a held-out split (data.split) instead");
  }
  const auto& arch = m.model.architecture;
  if (arch && !arch->layers.empty() && arch->layers[0].embedding) {
    refuse("model.architecture.layers[0].embedding", "an embedding of image pixels",
           "start image models with conv2d (or flatten and linear)");
  }
}

// data.augmentation transforms images (image steps) and a language model's tokens (text steps):
// a table's rows are refused (its file's name tells a table, unless data.image.column names its
// images), as is a step on the other kind of data.
void CheckAugmentation(const manifest::Manifest& m, const Refuse& refuse) {
  const manifest::DataConfig& d = m.data;
  if (d.augmentation.empty()) return;
  const std::optional<std::string>& first = d.source ? d.source : d.train;
  const bool text = MeantAsLanguageModel(m);
  if (first && !text && !MeantAsImages(m)) {
    refuse("data.augmentation", "augmenting a table (" + *first + ")",
           "augmentation transforms images (a folder of class folders, idx or CIFAR files, or a "
           "table's images named by data.image.column) and a language model's text; remove "
           "data.augmentation");
    return;
  }
  for (std::size_t i = 0; i < d.augmentation.size(); ++i) {
    const manifest::AugmentStep& a = d.augmentation[i];
    if (a.back_translate) continue;  // not built: refused as such
    const bool text_step = a.random_swap || a.random_delete;
    if (text_step == text) continue;
    refuse("data.augmentation[" + std::to_string(i) + "]",
           text ? "an image step on text" : "a text step on images",
           text ? "a language model's text takes random_swap and random_delete"
                : "random_swap and random_delete work on a language model's tokens; images take "
                  "resize, crops, flips, rotation, color_jitter and normalize");
  }
}

// A transformer trained on tokenized text (SPEC §3, §6, §11).
void CheckLanguageModel(const manifest::Manifest& m, const Refuse& refuse) {
  const auto& arch = m.model.architecture;
  if (arch && arch->type != "transformer") {
    refuse("data.preprocessing", "tokenized text for a " + arch->type + " model",
           "text trains a transformer: model.architecture.type: transformer");
  }
  if (!arch && !m.model.source) {
    refuse("model", "a language model without model.source or model.architecture",
           "name a Hugging Face model directory in model.source, or describe a new model");
  }
  if (arch && arch->use_bias.value_or(false)) {
    refuse("model.architecture.use_bias", "biases in a LLaMA decoder",
           "LLaMA projections have no biases: leave use_bias out");
  }
  for (std::size_t i = 0; i < m.data.preprocessing.size(); ++i) {
    const std::string path = "data.preprocessing[" + std::to_string(i) + "]";
    const auto& tokenize = m.data.preprocessing[i].tokenize;
    if (!tokenize) {
      refuse(path, "a table step on text", "text takes one tokenize step");
    } else {
      Unfetchable(path + ".tokenize.tokenizer", tokenize->tokenizer, fetch::RepoType::kModel,
                  "remote tokenizers",
                  "give hf://ORG/NAME or download the tokenizer (tokenizer.json or a "
                  "SentencePiece tokenizer.model) and give its path",
                  refuse);
    }
  }
  if (m.model.source) {
    Unfetchable("model.source", *m.model.source, fetch::RepoType::kModel, "remote models",
                "give hf://ORG/NAME or download the model (config.json, model.safetensors, "
                "tokenizer.json) and give its directory",
                refuse);
  }
  if (m.model.format && *m.model.format != "safetensors" && *m.model.format != "gguf") {
    refuse("model.format", *m.model.format,
           *m.model.format == "apr"
               ? "apr is the model format of paiml's aprender, which entrenar does not read: "
                 "load a Hugging Face directory with safetensors, or a llama GGUF file"
               : "load a Hugging Face directory with safetensors, or a llama GGUF file");
  }
  if (m.model.device == "mps") refuse("model.device", "mps", "use cpu, cuda or auto");
  if (m.training.validation.cross_validation) {
    refuse("training.validation.cross_validation", "cross-validation of a language model",
           "hold out a validation split instead");
  }
  if (m.training.loss != "auto" && m.training.loss != "cross_entropy") {
    refuse("training.loss", m.training.loss, "a language model trains on next-token cross_entropy");
  }
  for (const std::string& metric :
       m.training.validation.metrics.value_or(std::vector<std::string>{})) {
    if (metric != "loss" && metric != "perplexity" && metric != "accuracy") {
      refuse("training.validation.metrics", metric,
             "a language model reports loss, perplexity and (next-token) accuracy");
    }
  }
  if (m.quantize.enabled && m.lora.enabled) {
    refuse("quantize.enabled", "quantizing a LoRA run",
           "train the adapters, merge them (output.model.merge_lora), then quantize the merged "
           "model in a run of its own");
  }
  if (m.output.model.format != "safetensors" && m.output.model.format != "gguf") {
    refuse("output.model.format", m.output.model.format,
           "a language model is saved as a Hugging Face directory (safetensors), and as "
           "model.gguf with format: gguf");
  }
}

// A model named by a directory, a Hub id or a .gguf file, or LoRA without an architecture: the user
// means a language model (SPEC Appendix B), even before the data says so.
bool MeantAsLanguageModel(const manifest::Manifest& m) {
  if (IsLanguageModel(m)) return true;
  if (m.model.architecture) return false;
  if (m.lora.enabled) return true;
  if (!m.model.source) return false;
  const std::string& src = *m.model.source;
  if (src.rfind("hf://", 0) == 0) return true;
  const std::size_t slash = src.find_last_of('/');
  const std::string name = slash == std::string::npos ? src : src.substr(slash + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) return true;
  return name.find('.') == std::string::npos;  // "models/tiny-llama", "dir/": a directory
}

// A new model's positions hold the longest tokenized sequence (config.json's
// max_position_embeddings is written from max_seq_length).
void CheckSequenceLength(const manifest::Manifest& m, std::vector<manifest::Diagnostic>& out) {
  const auto& arch = m.model.architecture;
  if (!arch || !arch->max_seq_length) return;
  for (std::size_t i = 0; i < m.data.preprocessing.size(); ++i) {
    const auto& tokenize = m.data.preprocessing[i].tokenize;
    if (!tokenize || tokenize->max_length <= *arch->max_seq_length) continue;
    const std::string path = "data.preprocessing[" + std::to_string(i) + "].tokenize.max_length";
    out.push_back({manifest::Severity::kError,
                   path,
                   m.LocationOf(path),
                   "sequences of up to " + std::to_string(tokenize->max_length) +
                       " tokens do not fit the model's model.architecture.max_seq_length of " +
                       std::to_string(*arch->max_seq_length),
                   {"lower max_length to " + std::to_string(*arch->max_seq_length) +
                    " or raise model.architecture.max_seq_length"}});
  }
}

}  // namespace

// model.freeze and optimizer.param_groups against a sequential model's parameter names, as the
// engine applies them once the model is built: each glob must name a parameter (a group, one
// no earlier group took), and something must be left to train. LoRA adds its own parameters.
void CheckParameterGlobs(const manifest::Manifest& m, std::vector<manifest::Diagnostic>& out) {
  const auto& a = m.model.architecture;
  if (!a || a->type != "sequential" || m.lora.enabled) return;
  std::vector<std::string> names = SequentialParameterNames(*a);
  const std::string listed = "parameters are " + JoinQuoted(names);
  auto refuse = [&](const std::string& key, const std::string& what) {
    out.push_back({manifest::Severity::kError, key, m.LocationOf(key), what, {listed}});
  };
  for (std::size_t i = 0; i < m.model.freeze.size(); ++i) {
    const std::string& glob = m.model.freeze[i];
    if (std::none_of(names.begin(), names.end(),
                     [&](const std::string& n) { return ParameterMatches(glob, n); }))
      refuse("model.freeze[" + std::to_string(i) + "]", "`" + glob + "` matches no parameter");
  }
  std::erase_if(names, [&](const std::string& n) {
    return std::any_of(m.model.freeze.begin(), m.model.freeze.end(),
                       [&](const std::string& glob) { return ParameterMatches(glob, n); });
  });
  if (names.empty()) {
    if (m.model.freeze.empty()) {
      refuse("model.architecture.layers", "no layer has parameters; nothing would train");
    } else {
      refuse("model.freeze", "every parameter is frozen; nothing would train");
    }
    return;
  }
  const auto& groups = m.optimizer.param_groups;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto taken = std::remove_if(names.begin(), names.end(), [&](const std::string& n) {
      return ParameterMatches(groups[g].params, n);
    });
    if (taken == names.end()) {
      refuse("optimizer.param_groups[" + std::to_string(g) + "].params",
             "`" + groups[g].params + "` matches no trainable parameter" +
                 (g > 0 ? " that an earlier group did not take" : ""));
    }
    names.erase(taken, names.end());
  }
}

std::vector<manifest::Diagnostic> CheckTrainable(const manifest::Manifest& m) {
  std::vector<manifest::Diagnostic> out;
  const bool text = MeantAsLanguageModel(m);
  if (!m.data.source && !m.data.train) {
    out.push_back({manifest::Severity::kError,
                   "data",
                   m.LocationOf("data"),
                   "no data to train on",
                   {text ? "add data.source (a JSONL file of text or instruction/response records) "
                           "and a tokenize step: data.preprocessing: [{tokenize: {tokenizer: "
                           "tokenizer.json}}]"
                         : "set data.source to a CSV, TSV, JSON or JSONL file (or name "
                           "data.train, data.val and data.test)"}});
  }
  if (text && !FindTokenize(m)) {
    out.push_back({manifest::Severity::kError,
                   "data.preprocessing",
                   m.LocationOf("data.preprocessing"),
                   "a language model trains on tokenized text, and there is "
                   "no tokenize step",
                   {"add data.preprocessing: [{tokenize: {tokenizer: tokenizer.json, "
                    "max_length: 512}}] (the model directory's tokenizer.json)"}});
  }
  CheckSequenceLength(m, out);
  CheckParameterGlobs(m, out);
  return out;
}

bool LoraTargetsLayer(const manifest::LoraConfig& lora, const std::string& layer) {
  const std::string index = layer.substr(layer.find('.') + 1);
  return std::any_of(lora.target_modules.begin(), lora.target_modules.end(),
                     [&](const std::string& t) {
                       return fnmatch(t.c_str(), layer.c_str(), 0) == 0 ||
                              fnmatch(t.c_str(), index.c_str(), 0) == 0;
                     });
}

std::string ChromiumBinary() {
  const char* set = std::getenv("ENTRENAR_CHROMIUM");
  if (set && *set) return access(set, X_OK) == 0 ? set : "";
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

std::vector<manifest::Diagnostic> CheckSupport(const manifest::Manifest& m) {
  std::vector<manifest::Diagnostic> out;
  CheckBuilt(m, out);
  auto refuse = [&](const std::string& path, const std::string& what, const std::string& hint) {
    out.push_back({manifest::Severity::kError,
                   path,
                   m.LocationOf(path),
                   "not supported yet: " + path + ": " + what,
                   {hint}});
  };
  CheckDataFormat(m, refuse);
  CheckAugmentation(m, refuse);
  CheckDistributed(m, refuse);
  if (MeantAsImages(m)) CheckImages(m, refuse);
  if (MeantAsLanguageModel(m)) {
    CheckLanguageModel(m, refuse);
    CheckCallbacks(m, refuse, true);
    CheckOutputs(m, out, refuse);
    return out;
  }
  if (m.lora.enabled) CheckSequentialLora(m, refuse);
  if (m.output.model.merge_lora && !m.lora.enabled) {
    refuse("output.model.merge_lora", "merging LoRA adapters of a model without them",
           "merge_lora belongs to language models with lora.enabled");
  }
  const auto& arch = m.model.architecture;
  if (!arch) {
    refuse("model", "a model without `architecture` (weights from model.source load into one)",
           "describe the model: model.architecture.type: sequential with layers");
  }
  if (m.model.source) {
    const std::string& src = *m.model.source;
    const std::string format = m.model.format.value_or("");
    auto ends = [&](const std::string& tail) {
      return src.size() > tail.size() &&
             src.compare(src.size() - tail.size(), tail.size(), tail) == 0;
    };
    const bool refused = Unfetchable(
        "model.source", src, fetch::RepoType::kModel, "remote weights",
        "give hf://ORG/NAME/FILE.safetensors or a local .safetensors or .pt path", refuse);
    // A registry version holds the model.safetensors (or model.pt) of the run that published it.
    const bool published = registry::IsPachaUri(src);
    if (!refused && IsRemote(src) && !published && !ends(".safetensors")) {
      refuse("model.source", "loading `" + src + "` (a sequential model's weights: one file)",
             "name the .safetensors file: hf://ORG/NAME/FILE.safetensors");
    } else if (!refused && !format.empty() && format != "safetensors" && format != "pt") {
      refuse("model.format", format,
             format == "apr" ? "apr is the model format of paiml's aprender, which entrenar does "
                               "not read: load weights from a .safetensors file or a model.pt "
                               "entrenar wrote"
                             : "load weights from a .safetensors file or a model.pt entrenar "
                               "wrote");
    } else if (!refused && !published && format.empty() && !ends(".safetensors") && !ends(".pt")) {
      refuse("model.source",
             "loading `" + src + "` (.safetensors files and entrenar's model.pt load)",
             "convert the weights to safetensors, or set model.format: safetensors or pt");
    }
  }
  if (m.model.device == "mps") refuse("model.device", "mps", "use cpu, cuda or auto");
  for (const std::string& metric :
       m.training.validation.metrics.value_or(std::vector<std::string>{})) {
    if (metric == "perplexity") {
      refuse("training.validation.metrics", metric, "perplexity belongs to language models");
    }
  }
  if (m.output.model.format != "safetensors" && m.output.model.format != "pt") {
    refuse("output.model.format", m.output.model.format, "use safetensors or pt");
  }
  CheckCallbacks(m, refuse, false);
  CheckOutputs(m, out, refuse);
  return out;
}

}  // namespace entrenar::plan
