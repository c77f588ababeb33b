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
            throw Error(src, "weight_map." + it.key(), "must be a shard file name, got " + it.value().dump());
        std::string shard = it.value().get<std::string>();
        if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
            shard == "." || shard == "..")
            throw Error(src, "weight_map." + it.key(), "shard '" + shard + "' must be a plain file name in the model folder");
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
                throw Error(src, "weight_map." + tname,
                            "tensor appears in two shards: '" + pos->second + "' and '" + shard + "'");
            auto w = want.find(tname);
            if (w == want.end())
                throw Error(src, "weight_map", "tensor '" + tname + "' is in shard '" + shard + "' but not in the index");
            if (w->second != shard)
                throw Error(src, "weight_map." + tname,
                            "index says shard '" + w->second + "' but the tensor is in '" + shard + "'");
            ck.tensors.emplace(tname, tv);
        }
    }
    for (const auto& [tname, shard] : want)
        if (!found.count(tname))
            throw Error(src, "weight_map." + tname, "listed in shard '" + shard + "' but that shard does not contain it");
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

    ck.tokenizer_model = if_file(d / "tokenizer.model");
    ck.tokenizer_json = if_file(d / "tokenizer.json");
    ck.tokenizer_config = if_file(d / "tokenizer_config.json");
    ck.generation_config = if_file(d / "generation_config.json");
    return ck;
}

}  // namespace achilles
