// SPDX-License-Identifier: GPL-3.0-or-later
// Model folders: single file, sharded with model.safetensors.index.json, and what goes wrong.
#include "achilles/checkpoint.h"
#include "achilles/error.h"
#include "test_paths.h"

#include <QtTest>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace achilles;
namespace fs = std::filesystem;

namespace {

const char* kConfig =
    R"({"model_type":"llama","architectures":["LlamaForCausalLM"],"vocab_size":16,"hidden_size":8,
"intermediate_size":12,"num_hidden_layers":1,"num_attention_heads":2,"tie_word_embeddings":true})";

TensorData t(const std::string& name, std::vector<int64_t> shape, float start) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = start + float(i);
    std::vector<std::byte> b(n * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return {name, DType::F32, shape, b};
}

void put(const fs::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << s;
}

fs::path fresh(const std::string& name) {
    fs::path d = fs::path(test::build_scratch()) / "io_checkpoint" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    put(d / "config.json", kConfig);
    return d;
}

// Two shards and an index mapping each tensor to its shard.
fs::path sharded(const std::string& name) {
    fs::path d = fresh(name);
    write_safetensors((d / "model-00001-of-00002.safetensors").string(),
                      {t("model.embed_tokens.weight", {16, 8}, 0), t("model.norm.weight", {8}, 1000)});
    write_safetensors((d / "model-00002-of-00002.safetensors").string(),
                      {t("model.layers.0.mlp.up_proj.weight", {12, 8}, 2000)});
    put(d / "model.safetensors.index.json", R"({"metadata":{"total_size":1024},"weight_map":{
        "model.embed_tokens.weight":"model-00001-of-00002.safetensors",
        "model.norm.weight":"model-00001-of-00002.safetensors",
        "model.layers.0.mlp.up_proj.weight":"model-00002-of-00002.safetensors"}})");
    return d;
}

void expect_error(const fs::path& dir, const std::string& a, const std::string& b = "") {
    try {
        open_checkpoint(dir.string());
    } catch (const Error& e) {
        const std::string msg = e.what();
        QVERIFY2(msg.find(a) != std::string::npos, msg.c_str());
        if (!b.empty()) QVERIFY2(msg.find(b) != std::string::npos, msg.c_str());
        return;
    }
    QFAIL(("no Error for " + dir.string()).c_str());
}

float first(const TensorView& v) {
    float f;
    std::memcpy(&f, v.data, 4);
    return f;
}

}  // namespace

class TestCheckpoint : public QObject {
    Q_OBJECT
private slots:
    void fingerprintVectors();
    void singleFile();
    void shardedWithIndex();
    void headerHashIgnoresSharding();
    void missingShard();
    void tensorInIndexNotInShard();
    void tensorInShardNotInIndex();
    void duplicateAcrossShards();
    void wrongShardInIndex();
    void badIndex();
    void folderErrors();
    void realStories260K();
};

void TestCheckpoint::fingerprintVectors() {
    // Published FNV-1a 64-bit test vectors.
    QCOMPARE(fingerprint_hex(""), std::string("cbf29ce484222325"));
    QCOMPARE(fingerprint_hex("a"), std::string("af63dc4c8601ec8c"));
    QCOMPARE(fingerprint_hex("foobar"), std::string("85944171f73967e8"));
}

void TestCheckpoint::singleFile() {
    fs::path d = fresh("single");
    write_safetensors((d / "model.safetensors").string(),
                      {t("model.embed_tokens.weight", {16, 8}, 0), t("model.norm.weight", {8}, 1000)});
    put(d / "tokenizer.model", "x");
    put(d / "tokenizer_config.json", "{}");
    Checkpoint ck = open_checkpoint(d.string());
    QCOMPARE(ck.dir, d.string());
    QCOMPARE(ck.config.model_type, std::string("llama"));
    QCOMPARE(ck.files.size(), size_t(1));
    QCOMPARE(ck.tensors.size(), size_t(2));
    QCOMPARE(ck.weight_bytes(), size_t((16 * 8 + 8) * 4));
    QCOMPARE(first(ck.tensors.at("model.norm.weight")), 1000.0f);
    QCOMPARE(ck.tokenizer_model, (d / "tokenizer.model").string());
    QCOMPARE(ck.tokenizer_config, (d / "tokenizer_config.json").string());
    QCOMPARE(ck.tokenizer_json, std::string());
    QCOMPARE(ck.generation_config, std::string());
    // config_hash is FNV-1a over the exact bytes of config.json.
    QCOMPARE(ck.config_hash(), fingerprint_hex(kConfig));
    QCOMPARE(ck.config_hash().size(), size_t(16));
}

void TestCheckpoint::shardedWithIndex() {
    fs::path d = sharded("sharded");
    put(d / "generation_config.json", "{}");
    put(d / "tokenizer.json", "{}");
    Checkpoint ck = open_checkpoint(d.string());
    QCOMPARE(ck.files.size(), size_t(2));
    QCOMPARE(ck.tensors.size(), size_t(3));
    QCOMPARE(first(ck.tensors.at("model.embed_tokens.weight")), 0.0f);
    QCOMPARE(first(ck.tensors.at("model.norm.weight")), 1000.0f);
    const TensorView& up = ck.tensors.at("model.layers.0.mlp.up_proj.weight");
    QCOMPARE(first(up), 2000.0f);
    QCOMPARE(up.shape, (std::vector<int64_t>{12, 8}));
    QVERIFY(up.file.find("model-00002-of-00002.safetensors") != std::string::npos);
    QCOMPARE(ck.weight_bytes(), size_t((16 * 8 + 8 + 12 * 8) * 4));
    QCOMPARE(ck.generation_config, (d / "generation_config.json").string());
    QCOMPARE(ck.tokenizer_json, (d / "tokenizer.json").string());
}

void TestCheckpoint::headerHashIgnoresSharding() {
    fs::path s = sharded("hash_sharded");
    fs::path one = fresh("hash_single");
    write_safetensors((one / "model.safetensors").string(),
                      {t("model.layers.0.mlp.up_proj.weight", {12, 8}, 5), t("model.norm.weight", {8}, 7),
                       t("model.embed_tokens.weight", {16, 8}, 9)});
    const std::string h1 = open_checkpoint(s.string()).header_hash();
    const std::string h2 = open_checkpoint(one.string()).header_hash();
    QCOMPARE(h1, h2);  // names, dtypes and shapes agree; values and layout do not matter
    // Independent recomputation over "name\tdtype\tdims\n" lines in name order.
    std::string lines = "model.embed_tokens.weight\tF32\t16,8\nmodel.layers.0.mlp.up_proj.weight\tF32\t12,8\n"
                        "model.norm.weight\tF32\t8\n";
    QCOMPARE(h1, fingerprint_hex(lines));
    // A different shape changes it.
    fs::path other = fresh("hash_other");
    write_safetensors((other / "model.safetensors").string(),
                      {t("model.layers.0.mlp.up_proj.weight", {12, 8}, 5), t("model.norm.weight", {4, 2}, 7),
                       t("model.embed_tokens.weight", {16, 8}, 9)});
    QVERIFY(open_checkpoint(other.string()).header_hash() != h1);
}

void TestCheckpoint::missingShard() {
    fs::path d = sharded("missing_shard");
    fs::remove(d / "model-00002-of-00002.safetensors");
    expect_error(d, "model-00002-of-00002.safetensors", "weight_map");
}

void TestCheckpoint::tensorInIndexNotInShard() {
    fs::path d = sharded("not_in_shard");
    put(d / "model.safetensors.index.json", R"({"weight_map":{
        "model.embed_tokens.weight":"model-00001-of-00002.safetensors",
        "model.norm.weight":"model-00001-of-00002.safetensors",
        "lm_head.weight":"model-00002-of-00002.safetensors",
        "model.layers.0.mlp.up_proj.weight":"model-00002-of-00002.safetensors"}})");
    expect_error(d, "lm_head.weight", "does not contain");
}

void TestCheckpoint::tensorInShardNotInIndex() {
    fs::path d = sharded("not_in_index");
    put(d / "model.safetensors.index.json", R"({"weight_map":{
        "model.embed_tokens.weight":"model-00001-of-00002.safetensors",
        "model.layers.0.mlp.up_proj.weight":"model-00002-of-00002.safetensors"}})");
    expect_error(d, "model.norm.weight", "not in the index");
}

void TestCheckpoint::duplicateAcrossShards() {
    fs::path d = sharded("duplicate");
    write_safetensors((d / "model-00002-of-00002.safetensors").string(),
                      {t("model.layers.0.mlp.up_proj.weight", {12, 8}, 2000), t("model.norm.weight", {8}, 3000)});
    expect_error(d, "model.norm.weight", "two shards");
}

void TestCheckpoint::wrongShardInIndex() {
    fs::path d = sharded("wrong_shard");
    put(d / "model.safetensors.index.json", R"({"weight_map":{
        "model.embed_tokens.weight":"model-00001-of-00002.safetensors",
        "model.norm.weight":"model-00002-of-00002.safetensors",
        "model.layers.0.mlp.up_proj.weight":"model-00002-of-00002.safetensors"}})");
    expect_error(d, "model.norm.weight", "model-00002-of-00002.safetensors");
}

void TestCheckpoint::badIndex() {
    fs::path d = sharded("bad_index");
    put(d / "model.safetensors.index.json", R"({"metadata":{}})");
    expect_error(d, "weight_map", "missing");
    put(d / "model.safetensors.index.json", R"({"weight_map":{"a":"../../etc/passwd"}})");
    expect_error(d, "weight_map.a", "plain file name");
    put(d / "model.safetensors.index.json", R"({"weight_map":{"a":3}})");
    expect_error(d, "weight_map.a");
    put(d / "model.safetensors.index.json", "not json");
    expect_error(d, "model.safetensors.index.json", "JSON");
    // A corrupt shard is reported with its own file name.
    fs::path c = sharded("corrupt_shard");
    put(c / "model-00002-of-00002.safetensors", std::string("\x05\0\0\0\0\0\0\0{}}}}", 13));
    expect_error(c, "model-00002-of-00002.safetensors", "header");
}

void TestCheckpoint::folderErrors() {
    fs::path base = fs::path(test::build_scratch()) / "io_checkpoint";
    expect_error(base / "no-such-folder", "does not exist");
    fs::path file = base / "plain-file";
    put(file, "x");
    expect_error(file, "not a folder");
    fs::path no_cfg = fresh("no_config");
    fs::remove(no_cfg / "config.json");
    expect_error(no_cfg, "config.json", "missing");
    fs::path no_w = fresh("no_weights");
    expect_error(no_w, "model.safetensors");
    fs::path bad_cfg = fresh("bad_config");
    put(bad_cfg / "config.json", R"({"model_type":"bert"})");
    expect_error(bad_cfg, "model_type", "bert");
    try {
        open_checkpoint("");
        QFAIL("no Error for an empty path");
    } catch (const Error&) {
    }
}

void TestCheckpoint::realStories260K() {
    const std::string dir = test::shared_path("models/stories260K");
    if (dir.empty()) QSKIP("../shared/models/stories260K is absent");
    Checkpoint ck = open_checkpoint(dir);
    QCOMPARE(ck.tensors.size(), size_t(47));  // ../shared/README.md
    QVERIFY(!ck.tensors.count("lm_head.weight"));
    QVERIFY(!ck.tokenizer_model.empty());
    // All bytes after the header are weights.
    const size_t fsize = fs::file_size(fs::path(dir) / "model.safetensors");
    QCOMPARE(ck.weight_bytes(), fsize - 8 - ck.files[0]->header_json().size());
    const TensorView& e = ck.tensors.at("model.embed_tokens.weight");
    QCOMPARE(e.shape, (std::vector<int64_t>{512, 64}));
    QVERIFY(e.dtype == DType::F32);
}

QTEST_APPLESS_MAIN(TestCheckpoint)
#include "test_checkpoint.moc"
