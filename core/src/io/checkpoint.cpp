// SPDX-License-Identifier: GPL-3.0-or-later
// A Hugging Face model folder: config.json, model.safetensors or a sharded set listed by
// model.safetensors.index.json, and the tokenizer files.
#include "achilles/checkpoint.h"
#include "achilles/fileio.h"
#include "achilles/error.h"
#include "util/json_util.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace achilles {

namespace fs = std::filesystem;

namespace {


std::string if_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) ? p.string() : std::string();
}

void load_index(Checkpoint& ck, const fs::path& index_path) {
    const std::string src = index_path.string();
    std::string text = read_file(src);
    json j = parse_json(text, src);
    if (!j.is_object()) throw Error(src, "", "index must be a JSON object");
    if (!j.contains("weight_map")) throw Error(src, "weight_map", "is missing");
    const json& wm = j.at("weight_map");
    if (!wm.is_object()) throw Error(src, "weight_map", "must be an object {tensor name: shard file}");
    if (wm.empty()) throw Error(src, "weight_map", "is empty");

    // Open each shard once, in name order.
    std::map<std::string, std::string> want;  // tensor -> shard
    std::set<std::string> shard_names;
    for (auto it = wm.begin(); it != wm.end(); ++it) {
        if (!it.value().is_string())
            throw Error(src, "weight_map." + brief_key(it.key()), "must be a shard file name, got " + brief(it.value()));
        std::string shard = it.value().get<std::string>();
        if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
            shard == "." || shard == "..")
            throw Error(src, "weight_map." + brief_key(it.key()),
                        "shard '" + brief_key(shard) + "' must be a plain file name in the model folder");
        want[it.key()] = shard;
        shard_names.insert(shard);
    }
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& name : shard_names) {
        fs::path p = fs::path(ck.dir) / name;
        std::error_code ec;
        if (!fs::exists(p, ec))
            throw Error(src, "weight_map", "shard '" + name + "' is listed but " + p.string() + " does not exist");
        auto f = SafetensorsFile::open(p.string());
        shards[name] = f;
        ck.files.push_back(f);
    }
    // Every tensor of every shard must be listed, for that shard, exactly once.
    std::map<std::string, std::string> found;  // tensor -> shard holding it
    for (const auto& [shard, f] : shards) {
        for (const auto& [tname, tv] : f->tensors()) {
            auto [pos, inserted] = found.emplace(tname, shard);
            if (!inserted)
                throw Error(src, "weight_map." + brief_key(tname),
                            "tensor appears in two shards: '" + pos->second + "' and '" + shard + "'");
            auto w = want.find(tname);
            if (w == want.end())
                throw Error(src, "weight_map", "tensor '" + brief_key(tname) + "' is in shard '" + shard + "' but not in the index");
            if (w->second != shard)
                throw Error(src, "weight_map." + brief_key(tname),
                            "index says shard '" + w->second + "' but the tensor is in '" + shard + "'");
            ck.tensors.emplace(tname, tv);
        }
    }
    for (const auto& [tname, shard] : want)
        if (!found.count(tname))
            throw Error(src, "weight_map." + brief_key(tname), "listed in shard '" + shard + "' but that shard does not contain it");
}

// config.json against the weights, before anything is allocated for the model: a config that
// claims 10^7 layers or a head_dim of 2^30 must fail here by name, not as bad_alloc later.
// The names are the Hugging Face ones every supported family shares (model.layers.N., embed_tokens).
void check_config_against_weights(const Checkpoint& ck) {
    const ModelConfig& c = ck.config;
    const std::string& src = c.source_path;
    auto tensor_file = [&](const TensorView& t) { return t.file; };
    std::set<int64_t> layers;
    for (const auto& [name, tv] : ck.tensors) {
        constexpr std::string_view pre = "model.layers.";
        if (name.compare(0, pre.size(), pre) != 0) continue;
        int64_t n = 0;
        size_t i = pre.size(), digits = 0;
        while (i < name.size() && name[i] >= '0' && name[i] <= '9' && digits < 9) n = n * 10 + (name[i++] - '0'), ++digits;
        if (digits > 0 && i < name.size() && name[i] == '.') layers.insert(n);
    }
    if (!layers.empty()) {
        const int64_t L = c.num_hidden_layers;
        if (static_cast<int64_t>(layers.size()) != L || *layers.rbegin() != L - 1)
            throw Error(src, "num_hidden_layers",
                        "says " + std::to_string(L) + " layers but the weights hold " + std::to_string(layers.size()) +
                            " (model.layers." + std::to_string(*layers.begin()) + " to model.layers." +
                            std::to_string(*layers.rbegin()) + ")");
    }
    auto dims = [&](const char* name, std::initializer_list<std::pair<int64_t, const char*>> want) {
        auto it = ck.tensors.find(name);
        if (it == ck.tensors.end()) return;
        const TensorView& t = it->second;
        size_t k = 0;
        for (const auto& [n, field] : want) {
            if (k >= t.shape.size() || t.shape[k] != n)
                throw Error(src, field,
                            "does not match the weights: " + std::string(name) + " in " + tensor_file(t) + " has shape [" +
                                [&] {
                                    std::string s;
                                    for (size_t q = 0; q < t.shape.size(); ++q) s += (q ? ", " : "") + std::to_string(t.shape[q]);
                                    return s;
                                }() + "] but the config implies [" + [&] {
                                    std::string s;
                                    size_t q = 0;
                                    for (const auto& w : want) s += (q++ ? ", " : "") + std::to_string(w.first);
                                    return s;
                                }() + "] (dimension " + std::to_string(k) + " should be " + std::to_string(n) + ")");
            ++k;
        }
    };
    const int64_t H = c.hidden_size, hd = c.head_dim, nh = c.num_attention_heads, kv = c.num_key_value_heads;
    dims("model.embed_tokens.weight", {{c.vocab_size, "vocab_size"}, {H, "hidden_size"}});
    dims("model.layers.0.self_attn.q_proj.weight", {{nh * hd, "head_dim"}, {H, "hidden_size"}});
    dims("model.layers.0.self_attn.k_proj.weight", {{kv * hd, "num_key_value_heads"}, {H, "hidden_size"}});
    dims("model.layers.0.self_attn.qkv_proj.weight", {{(nh + 2 * kv) * hd, "head_dim"}, {H, "hidden_size"}});
    dims("model.layers.0.mlp.down_proj.weight", {{H, "hidden_size"}, {c.intermediate_size, "intermediate_size"}});
}

// Inf or NaN in a weight makes every perplexity NaN without any error: refuse such a file.
void check_finite(const Checkpoint& ck) {
    for (const auto& [name, tv] : ck.tensors)
        if (auto i = first_non_finite(tv))
            throw Error(tv.file, brief_key(name),
                        "holds a non-finite value (Inf or NaN) at element " + std::to_string(*i) +
                            "; the weights are corrupt");
}

}  // namespace

std::string fingerprint_hex(const std::string& bytes) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

size_t Checkpoint::weight_bytes() const {
    size_t n = 0;
    for (const auto& [name, tv] : tensors) n += tv.nbytes;
    return n;
}

std::string Checkpoint::config_hash() const { return fingerprint_hex(config.raw_json); }

std::string Checkpoint::header_hash() const {
    std::string s;
    for (const auto& [name, tv] : tensors) {  // std::map: sorted by name
        s += name;
        s += '\t';
        s += dtype_name(tv.dtype);
        s += '\t';
        for (size_t i = 0; i < tv.shape.size(); ++i) {
            if (i) s += ',';
            s += std::to_string(tv.shape[i]);
        }
        s += '\n';
    }
    return fingerprint_hex(s);
}

Checkpoint open_checkpoint(const std::string& dir) {
    std::error_code ec;
    if (dir.empty()) throw Error("", "model", "no model folder given");
    if (!fs::exists(dir, ec)) throw Error(dir, "", "model folder does not exist");
    if (!fs::is_directory(dir, ec))
        throw Error(dir, "", "is not a folder; a model is a folder holding config.json and model.safetensors");
    Checkpoint ck;
    ck.dir = dir;
    fs::path d(dir);

    fs::path cfg = d / "config.json";
    if (!fs::is_regular_file(cfg, ec)) throw Error(cfg.string(), "", "config.json is missing from the model folder");
    ck.config = load_config(cfg.string());

    fs::path single = d / "model.safetensors";
    fs::path index = d / "model.safetensors.index.json";
    if (fs::exists(single, ec)) {
        auto f = SafetensorsFile::open(single.string());
        ck.files.push_back(f);
        ck.tensors = f->tensors();
    } else if (fs::exists(index, ec)) {
        load_index(ck, index);
    } else {
        throw Error(dir, "", "no model.safetensors or model.safetensors.index.json in the model folder");
    }

    check_config_against_weights(ck);
    check_finite(ck);

    ck.tokenizer_model = if_file(d / "tokenizer.model");
    ck.tokenizer_json = if_file(d / "tokenizer.json");
    ck.tokenizer_config = if_file(d / "tokenizer_config.json");
    ck.generation_config = if_file(d / "generation_config.json");
    return ck;
}

}  // namespace achilles
