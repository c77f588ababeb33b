// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Shared helpers of the model tests: fixtures, goldens, the device under test.
#include "achilles/engine.h"
#include "model/engine_internal.h"
#include "model/transformer.h"
#include "test_paths.h"
#include <nlohmann/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace achilles::test {

inline const std::vector<std::string>& fixture_names() {
    static const std::vector<std::string> n = {"llama3", "mistral", "qwen2", "qwen3", "gemma", "gemma2",
                                               "phi3", "llama_sharded", "llama_bf16", "llama_f16"};
    return n;
}
inline std::string fixture_dir(const std::string& name) { return tests_dir() + "/fixtures/" + name; }

inline nlohmann::json load_golden(const std::string& name) {
    std::ifstream in(fixture_dir(name) + "/golden.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
}

// The device under test: $ACHILLES_TEST_DEVICE (cpu, cuda, cuda:N), default cpu.
inline std::string test_device() {
    const char* d = std::getenv("ACHILLES_TEST_DEVICE");
    return d && *d ? std::string(d) : std::string("cpu");
}

inline std::unique_ptr<Engine> load_fixture(const std::string& name, const std::string& dtype = "auto") {
    LoadOptions o;
    o.path = fixture_dir(name);
    o.device = test_device();
    o.dtype = dtype;
    return Engine::load(o, null_progress());
}

// A golden nested list as a float64 tensor.
inline at::Tensor golden_tensor(const nlohmann::json& j) {
    std::vector<int64_t> shape;
    const nlohmann::json* p = &j;
    while (p->is_array()) {
        shape.push_back(int64_t(p->size()));
        if (p->empty()) break;
        p = &(*p)[0];
    }
    std::vector<double> flat;
    std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& x) {
        if (x.is_array())
            for (const auto& e : x) walk(e);
        else
            flat.push_back(x.get<double>());
    };
    walk(j);
    return at::tensor(flat, at::TensorOptions().dtype(at::kDouble)).reshape(shape);
}

inline at::Tensor ids_tensor(const nlohmann::json& ids) {
    std::vector<int64_t> flat;
    for (const auto& row : ids)
        for (const auto& v : row) flat.push_back(v.get<int64_t>());
    return at::tensor(flat, at::TensorOptions().dtype(at::kLong)).reshape({int64_t(ids.size()), int64_t(ids[0].size())});
}

inline std::vector<int> ids_row(const nlohmann::json& ids, size_t r) {
    std::vector<int> v;
    for (const auto& x : ids[r]) v.push_back(x.get<int>());
    return v;
}

// max |a - b| / max |b|: relative error in the max norm.
inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
    at::Tensor A = a.to(at::kCPU, at::kDouble), B = b.to(at::kCPU, at::kDouble);
    const double den = std::max(B.abs().max().item<double>(), 1e-12);
    return (A - B).abs().max().item<double>() / den;
}

inline MaskSpec mask_from(const nlohmann::json& arr) {
    MaskSpec m;
    for (const auto& e : arr) {
        MaskEntry me;
        me.neuron.layer = e["layer"].get<int>();
        me.neuron.module = *module_from_name(e["module"].get<std::string>());
        me.neuron.channel = e["channel"].get<int>();
        if (e.contains("positions"))
            for (const auto& p : e["positions"]) me.positions.push_back(p.get<int>());
        m.push_back(me);
    }
    return m;
}

}  // namespace achilles::test
