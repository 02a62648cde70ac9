#pragma once

// The typed "entrenar 1.0" manifest (SPEC.md §1-§13) with the defaults of its Appendix A.
// Plain structs: no YAML, no validation here. Fields the spec leaves unset by default are
// std::optional. Enumerated values are kept as their canonical spelling ("adamw", "bfloat16").

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/manifest/diagnostic.h"

namespace entrenar::manifest {

// A wall-clock budget written as "90s", "1h30m", "2h", "PT1H30M" or a number of seconds.
struct Duration {
  double seconds = 0;
  std::string text;  // as written, for round trips
};

// A scalar that may be a number or a word, e.g. `loss_scale: dynamic` or `loss_scale: 1024`.
struct NumberOrWord {
  std::optional<double> number;
  std::string word;
};

// ---- data (§2) -------------------------------------------------------------------------------
struct SplitConfig {
  double train = 0.8;
  double val = 0.1;
  double test = 0.1;
  std::optional<std::string> stratify;
  std::optional<std::int64_t> seed;
};

struct NormalizeStep {
  std::optional<std::vector<std::string>> columns;  // `...` ranges already expanded
  std::string method = "zscore";
};
struct EncodeStep {
  std::vector<std::string> columns;
  std::string method = "onehot";
};
struct DropStep {
  std::vector<std::string> columns;
};
struct FillnaStep {
  std::string strategy = "mean";
  std::optional<NumberOrWord> value;
  std::optional<std::vector<std::string>> columns;
};
struct TokenizeStep {
  std::string tokenizer;
  std::int64_t max_length = 512;
  std::string padding = "longest";
  bool truncation = true;
  std::optional<std::string> column;
  std::string prompt_template = "alpaca";  // key `template`
};
// One item of `data.preprocessing`: exactly one member is set.
struct PreprocessStep {
  std::optional<NormalizeStep> normalize;
  std::optional<EncodeStep> encode;
  std::optional<DropStep> drop;
  std::optional<FillnaStep> fillna;
  std::optional<TokenizeStep> tokenize;
};

struct RandomCropStep {
  std::vector<std::int64_t> size;
  std::int64_t padding = 0;
  std::string padding_mode = "constant";
};
struct SizeStep {
  std::vector<std::int64_t> size;
};
struct RandomResizedCropStep {
  std::vector<std::int64_t> size;
  std::vector<double> scale = {0.08, 1.0};
  std::vector<double> ratio = {0.75, 4.0 / 3.0};
};
struct RotationStep {
  double degrees = 0;
  std::int64_t fill = 0;
};
struct ProbabilityStep {
  double probability = 0.5;
};
// random_swap, random_delete: the chance for each token (EDA's 0.1 by default).
struct TokenProbabilityStep {
  double probability = 0.1;
};
struct ColorJitterStep {
  double brightness = 0;
  double contrast = 0;
  double saturation = 0;
  double hue = 0;
};
struct NormalizeImageStep {
  std::vector<double> mean;
  std::vector<double> std;
};
struct BackTranslateStep {
  std::vector<std::string> languages;
  double probability = 0.1;
};
// One item of `data.augmentation`: exactly one member is set.
struct AugmentStep {
  std::optional<SizeStep> resize;
  std::optional<SizeStep> center_crop;
  std::optional<RandomCropStep> random_crop;
  std::optional<RandomResizedCropStep> random_resized_crop;
  std::optional<ProbabilityStep> horizontal_flip;
  std::optional<ProbabilityStep> vertical_flip;
  std::optional<RotationStep> rotation;
  std::optional<ColorJitterStep> color_jitter;
  std::optional<NormalizeImageStep> normalize;
  std::optional<TokenProbabilityStep> random_swap;
  std::optional<TokenProbabilityStep> random_delete;
  std::optional<BackTranslateStep> back_translate;
};

struct LoaderConfig {
  std::int64_t batch_size = 32;
  bool shuffle = true;
  std::int64_t num_workers = 0;
  bool pin_memory = false;
  bool drop_last = false;
  std::int64_t prefetch_factor = 2;
  std::optional<std::int64_t> seed;
};

// How the images of an image data set are decoded.
struct ImageConfig {
  std::string color = "auto";         // auto, rgb or grey
  std::optional<std::string> column;  // a table's image column: its images are the data
  std::string on_error = "fail";      // fail or skip: what a damaged image does
};

struct DataConfig {
  std::optional<std::string> source;
  std::string format = "auto";
  std::string target = "label";
  std::optional<SplitConfig> split;  // see EffectiveSplit()
  std::optional<std::string> train;
  std::optional<std::string> val;
  std::optional<std::string> test;
  std::vector<PreprocessStep> preprocessing;
  std::vector<AugmentStep> augmentation;
  ImageConfig image;
  LoaderConfig loader;
};

// ---- model (§3) ------------------------------------------------------------------------------
struct LinearLayer {
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;
  bool bias = true;
};
struct ConvLayer {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t kernel_size = 0;
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  bool bias = true;
};
struct PoolLayer {
  std::int64_t kernel_size = 0;
  std::optional<std::int64_t> stride;
  std::int64_t padding = 0;
};
struct FlattenLayer {
  std::int64_t start_dim = 1;
  std::int64_t end_dim = -1;
};
struct BatchNormLayer {
  std::int64_t num_features = 0;
  double eps = 1e-5;
  double momentum = 0.1;
};
struct LayerNormLayer {
  std::int64_t normalized_shape = 0;
  double eps = 1e-5;
};
struct EmbeddingLayer {
  std::int64_t num_embeddings = 0;
  std::int64_t embedding_dim = 0;
};
// Gives each sample a new shape (batch dimension excluded), e.g. [1, 8, 8] for conv2d.
struct ReshapeLayer {
  std::vector<std::int64_t> shape;
};
struct DropoutLayer {
  double p = 0.5;
};
struct ActivationLayer {
  std::string type = "relu";
  double negative_slope = 0.01;
  std::int64_t dim = -1;
};
// One item of `model.architecture.layers`: exactly one member is set.
struct Layer {
  std::optional<LinearLayer> linear;
  std::optional<ConvLayer> conv1d;
  std::optional<ConvLayer> conv2d;
  std::optional<PoolLayer> max_pool1d;
  std::optional<PoolLayer> max_pool2d;
  std::optional<PoolLayer> avg_pool1d;
  std::optional<PoolLayer> avg_pool2d;
  std::optional<FlattenLayer> flatten;
  std::optional<ReshapeLayer> reshape;
  std::optional<BatchNormLayer> batchnorm;
  std::optional<LayerNormLayer> layernorm;
  std::optional<EmbeddingLayer> embedding;
  std::optional<DropoutLayer> dropout;
  std::optional<ActivationLayer> activation;
};

struct ArchitectureConfig {
  std::string type;
  std::vector<Layer> layers;
  std::optional<std::int64_t> hidden_size;
  std::optional<std::int64_t> num_layers;
  std::optional<std::int64_t> num_heads;
  std::optional<std::int64_t> num_kv_heads;
  std::optional<std::int64_t> intermediate_size;
  std::optional<std::int64_t> vocab_size;
  std::optional<std::int64_t> max_seq_length;
  std::optional<double> rms_norm_eps;
  std::optional<double> rope_theta;
  std::optional<bool> use_bias;
  std::optional<bool> tie_word_embeddings;
};

struct ModelConfig {
  std::optional<std::string> source;
  std::optional<std::string> format;
  std::optional<ArchitectureConfig> architecture;
  std::vector<std::string> freeze;
  std::string device = "auto";
  std::string dtype = "float32";
};

// ---- optimizer and scheduler (§4) ------------------------------------------------------------
struct ParamGroup {
  std::string params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

struct OptimizerConfig {
  std::string name = "adamw";
  double lr = 0.001;
  double weight_decay = 0.01;
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  bool amsgrad = false;
  double momentum = 0;
  bool nesterov = false;
  double dampening = 0;
  double alpha = 0.99;
  bool centered = false;
  std::vector<ParamGroup> param_groups;
};

struct WarmupConfig {
  std::optional<std::int64_t> steps;  // 0 when neither steps nor ratio is given
  std::optional<double> ratio;
  double start_lr = 0;
};

struct SchedulerConfig {
  std::string name = "cosine_annealing";
  WarmupConfig warmup;
  std::optional<std::int64_t> T_max;  // NOLINT(readability-identifier-naming): the spec's key
  double eta_min = 0;
  std::optional<std::int64_t> step_size;
  double gamma = 0.1;
  std::string mode = "min";
  double factor = 0.1;
  std::int64_t patience = 10;
  double threshold = 1e-4;
  std::string metric = "val_loss";
  std::optional<double> max_lr;
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";
  double div_factor = 25;
  double final_div_factor = 1e4;
};

// ---- training (§5) ---------------------------------------------------------------------------
struct GradientConfig {
  std::int64_t accumulation_steps = 1;
  std::optional<double> clip_norm;
  std::optional<double> clip_value;
};
struct MixedPrecisionConfig {
  bool enabled = false;
  std::string dtype = "float16";
  NumberOrWord loss_scale{std::nullopt, "dynamic"};
};
struct DistributedConfig {
  std::string strategy = "ddp";
  std::int64_t world_size = 1;
  bool gradient_as_bucket_view = false;
  bool find_unused_parameters = false;
};
struct CheckpointConfig {
  std::int64_t save_every = 1000;
  std::int64_t keep_last = 3;
  std::optional<bool> save_best;  // see SaveBest()
  std::string metric = "val_loss";
  std::string mode = "min";
};
struct EarlyStoppingConfig {
  bool enabled = false;
  std::string metric = "val_loss";
  std::int64_t patience = 5;
  double min_delta = 0;
  std::string mode = "min";
};
struct CrossValidationConfig {
  std::int64_t folds = 5;
  bool stratified = true;
  bool shuffle = true;
};
struct ValidationConfig {
  std::optional<std::int64_t> every;
  std::optional<bool> every_epoch;
  std::optional<std::vector<std::string>> metrics;
  std::optional<CrossValidationConfig> cross_validation;
};

struct TrainingConfig {
  std::optional<std::int64_t> epochs;  // see EffectiveEpochs()
  std::optional<std::int64_t> max_steps;
  std::optional<Duration> duration;
  GradientConfig gradient;
  MixedPrecisionConfig mixed_precision;
  std::optional<DistributedConfig> distributed;
  CheckpointConfig checkpoint;
  EarlyStoppingConfig early_stopping;
  ValidationConfig validation;
  bool deterministic = false;
  bool benchmark = false;
  std::optional<std::int64_t> effective_batch_size;
  std::string loss = "auto";
};

// ---- lora and quantize (§6, §7) --------------------------------------------------------------
struct LoraConfig {
  bool enabled = false;
  std::int64_t rank = 16;
  double alpha = 32;
  double dropout = 0.05;
  std::vector<std::string> target_modules;
  std::optional<std::string> target_modules_pattern;
  std::string bias = "none";
  std::string init_weights = "gaussian";
  bool quantize_base = false;
  std::int64_t quantize_bits = 4;
  bool double_quantize = false;
  std::string quant_type = "nf4";
};

struct QatConfig {
  bool enabled = false;
  std::string observer = "minmax";
};
struct CalibrationConfig {
  std::int64_t samples = 512;
  std::string method = "minmax";
  double percentile = 99.99;
};
struct QuantizeConfig {
  bool enabled = false;
  std::int64_t bits = 8;
  std::string scheme = "symmetric";
  std::string granularity = "per_channel";
  std::optional<std::int64_t> group_size;
  QatConfig qat;
  CalibrationConfig calibration;
  std::vector<std::string> exclude;
};

// ---- monitoring, callbacks, output (§8-§10) --------------------------------------------------
struct ChartConfig {
  std::string type;
  std::optional<std::string> metric;
  std::int64_t window = 100;
  bool show_eta = true;
};
struct TerminalConfig {
  bool enabled = true;
  std::int64_t refresh_rate = 100;
  std::vector<std::string> metrics;
  std::vector<ChartConfig> charts;
};
struct TrackingConfig {
  bool enabled = false;
  std::string backend = "builtin";
  std::optional<std::string> project;
  std::optional<std::string> experiment;
  std::map<std::string, std::string> tags;
  std::optional<std::string> uri;
};
struct SystemConfig {
  bool enabled = false;
  std::int64_t interval = 1000;
  std::vector<std::string> metrics;
};
struct AlertConfig {
  std::string condition;
  std::string action = "warn";
  std::optional<std::string> message;
};
struct MonitoringConfig {
  TerminalConfig terminal;
  TrackingConfig tracking;
  SystemConfig system;
  std::vector<AlertConfig> alerts;
};

struct CallbackOptions {
  std::optional<bool> save_best;
  std::optional<std::string> metric;
  std::optional<std::string> mode;
  std::optional<bool> log_histogram;
  std::optional<bool> per_layer;
  std::optional<std::int64_t> num_samples;
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
};
struct CallbackConfig {
  std::string type;
  std::string trigger = "epoch_end";
  std::int64_t interval = 1;
  CallbackOptions config;
  std::optional<std::string> script;
  std::optional<std::vector<std::string>> command;
  std::optional<Duration> timeout;
};

struct ModelOutputConfig {
  std::string format = "safetensors";
  bool save_optimizer = false;
  bool save_scheduler = false;
  bool merge_lora = false;
};
struct MetricsOutputConfig {
  std::string format = "parquet";
  std::vector<std::string> include;
};
struct ReportConfig {
  bool enabled = true;
  std::string format = "markdown";
  bool include_plots = true;
};
struct RegistryConfig {
  bool enabled = false;
  std::optional<std::string> target;
  bool include_config = true;
  bool include_metrics = true;
};
struct OutputConfig {
  std::string dir = "./output";
  ModelOutputConfig model;
  MetricsOutputConfig metrics;
  ReportConfig report;
  RegistryConfig registry;
};

// ---- lock (§15.2): written by `entrenar lock`, checked by `--strict` ---------------------------
struct LockedFile {
  std::string key;                    // the manifest key that names the file, e.g. "data.source"
  std::string path;                   // as written in the manifest
  std::optional<std::string> sha256;  // absent when the file did not exist at lock time
  std::optional<std::int64_t> size;
};
struct LockInfo {
  std::string entrenar_version;
  std::string created;
  std::vector<LockedFile> files;
  std::map<std::string, std::string> libraries;
};

// Defaults that depend on other keys. Consumers use these, not the raw optionals.
constexpr std::int64_t kDefaultEpochs = 10;
// The split ratios in force: as written, or 0.8/0.1/0.1 (Appendix A) when no files are named.
SplitConfig EffectiveSplit(const DataConfig& d);
// Epochs when the run is bounded by epochs (no max_steps or duration): as written, or 10.
std::int64_t EffectiveEpochs(const TrainingConfig& t);

// ---- root (§1) -------------------------------------------------------------------------------
struct Manifest {
  std::string entrenar;
  std::string name;
  std::string version;
  std::optional<std::string> description;
  std::optional<std::int64_t> seed;
  DataConfig data;
  ModelConfig model;
  OptimizerConfig optimizer;
  SchedulerConfig scheduler;
  TrainingConfig training;
  LoraConfig lora;
  QuantizeConfig quantize;
  MonitoringConfig monitoring;
  std::vector<CallbackConfig> callbacks;
  OutputConfig output;
  std::optional<LockInfo> lock;

  // Where each key given in the file (or by --set) was written, by key path
  // ("optimizer.lr", "callbacks[0].trigger"). Keys left to their defaults are absent.
  std::map<std::string, Location> locations;

  // True when the key path was written (not defaulted).
  bool IsSet(const std::string& path) const { return locations.count(path) > 0; }
  // The location of `path`, or of its nearest written parent, or the file's start.
  Location LocationOf(const std::string& path) const;
  std::string file;  // the manifest's file name, for diagnostics
};

}  // namespace entrenar::manifest
