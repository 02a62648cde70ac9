// Tokens/s of a LoRA training step of a LLaMA-style model (about 19M parameters: vocabulary
// 8000, hidden 384, MLP 1024, 8 layers, 6 heads, 2 key/value heads; LoRA rank 8 on q_proj and
// v_proj; AdamW; next-token cross-entropy) in entrenar's decoder. bench/lm runs this and the
// same step in eager PyTorch (bench/lm.py) and prints the ratio.
//   build/bin/bench_lm [STEPS] [BATCH] [SEQ] [THREADS]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <torch/torch.h>

#include "llama.h"

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 20;
  const std::int64_t batch = argc > 2 ? std::atoll(argv[2]) : 4;
  const std::int64_t seq = argc > 3 ? std::atoll(argv[3]) : 128;
  torch::set_num_threads(argc > 4 ? std::atoi(argv[4]) : 1);
  torch::manual_seed(0);
  const std::string config = R"({"vocab_size": 8000, "hidden_size": 384,
    "intermediate_size": 1024, "num_hidden_layers": 8, "num_attention_heads": 6,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-5})";
  entrenar::engine::Llama model(*entrenar::engine::ParseLlamaConfig(config));
  std::int64_t total = 0;
  for (const auto& p : model->parameters()) total += p.numel();
  entrenar::manifest::LoraConfig lora;
  lora.rank = 8;
  lora.alpha = 16;
  lora.dropout = 0;
  lora.target_modules = {"q_proj", "v_proj"};
  if (!model->ApplyLora(lora).ok()) return 1;
  std::vector<torch::Tensor> trainable;
  std::int64_t adapters = 0;
  for (const auto& p : model->parameters()) {
    if (!p.requires_grad()) continue;
    trainable.push_back(p);
    adapters += p.numel();
  }
  torch::optim::AdamW opt(trainable, torch::optim::AdamWOptions(1e-4));
  const torch::Tensor ids = torch::randint(8000, {batch, seq + 1}, torch::kLong);
  const torch::Tensor input = ids.slice(1, 0, seq), target = ids.slice(1, 1);
  auto step = [&] {
    opt.zero_grad();
    const torch::Tensor logits = model->forward(input);
    torch::nn::functional::cross_entropy(logits.reshape({-1, 8000}), target.reshape({-1}))
        .backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"parameters\": %lld, \"trainable\": %lld, \"tokens_per_second\": %.1f}\n",
              static_cast<long long>(total), static_cast<long long>(adapters),
              static_cast<double>(steps * batch * seq) / secs);
  return 0;
}
