#!/usr/bin/env python3
# Writes cases.json, the bad-input corpus run by test_bad_inputs (see its header for the format).
# Edit here, run `python3 make_cases.py`, commit both.
import json, os

C = []
def case(name, args, msg, rc=1, **kw):
    d = {"name": name, "args": args, "rc": rc, "msg": msg}
    d.update(kw)
    C.append(d)

L3 = "tests/fixtures/llama3"
CFG = L3 + "/config.json"
def cfg_case(name, sets, msg, **kw):
    case("config_" + name, ["info", "--model", "$M"], ["config.json"] + msg, model=L3,
         files={"$M/config.json": {"from": "$S/" + CFG, "set": sets}}, **kw)

# ---------------------------------------------------------------- config.json
cfg_case("deep_array_value", {"vocab_size": "{{deep:200000}}"}, ["vocab_size", "deeper than 64"])
cfg_case("layers_1e400", {"num_hidden_layers": "1e400"}, ["num_hidden_layers", "out of range"])
cfg_case("layers_1e300", {"num_hidden_layers": "1e300"}, ["num_hidden_layers", "out of range"])
cfg_case("layers_int_max", {"num_hidden_layers": "2147483647"}, ["num_hidden_layers", "implausibly large"])
cfg_case("layers_1e7", {"num_hidden_layers": "10000000"}, ["num_hidden_layers", "implausibly large"])
cfg_case("layers_vs_weights", {"num_hidden_layers": "3"}, ["num_hidden_layers", "weights hold 2"])
cfg_case("layers_vs_weights_fewer", {"num_hidden_layers": "1"}, ["num_hidden_layers", "weights hold 2"])
cfg_case("head_dim_2p30", {"head_dim": "1073741824"}, ["head_dim", "implausibly large"])
cfg_case("head_dim_derived_too_large", {"head_dim": "null", "hidden_size": "33000"}, ["hidden_size", "8250", "implausibly large"])
cfg_case("head_dim_vs_weights", {"head_dim": "16"}, ["head_dim", "does not match the weights"])
cfg_case("vocab_vs_weights", {"vocab_size": "65"}, ["vocab_size", "does not match the weights"])
cfg_case("hidden_vs_weights", {"hidden_size": "48"}, ["hidden_size", "does not match the weights"])
cfg_case("intermediate_vs_weights", {"intermediate_size": "65"}, ["intermediate_size", "does not match the weights"])
cfg_case("duplicate_key", {"vocab_size": "64", "vocab_size#2": "64"}, ["vocab_size", "appears twice"])
cfg_case("model_type_number", {"model_type": "123"}, ["model_type", "expected a string"])
cfg_case("model_type_unknown", {"model_type": "\"gpt9\""}, ["model_type", "unsupported"])
cfg_case("rms_eps_negative", {"rms_norm_eps": "-1"}, ["rms_norm_eps", "positive"])
cfg_case("rope_theta_string", {"rope_theta": "\"abc\""}, ["rope_theta", "expected a number"])
cfg_case("rope_orig_1e300", {"rope_scaling": "{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":1e300}"},
         ["rope_scaling.original_max_position_embeddings", "out of range"])
cfg_case("rope_orig_1e400", {"rope_scaling": "{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":1e400}"},
         ["rope_scaling.original_max_position_embeddings", "out of range"])
cfg_case("rope_factor_small", {"rope_scaling": "{\"rope_type\":\"llama3\",\"factor\":0.5,\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":16}"},
         ["rope_scaling.factor"])
cfg_case("rope_type_unknown", {"rope_scaling": "{\"rope_type\":\"yarnish\"}"}, ["rope_scaling.rope_type", "unsupported"])
cfg_case("rope_scaling_deep", {"rope_scaling": "{\"factor\": {{deep:100000}}}"}, ["rope_scaling.factor", "deeper than 64"])
cfg_case("max_pos_1e300", {"max_position_embeddings": "1e300"}, ["max_position_embeddings", "out of range"])
cfg_case("max_pos_negative", {"max_position_embeddings": "-5"}, ["max_position_embeddings", "positive"])
cfg_case("max_pos_huge", {"max_position_embeddings": "9007199254740992"}, ["max_position_embeddings", "implausibly large"])
cfg_case("bos_2p32_plus_5", {"bos_token_id": "4294967301"}, ["bos_token_id", "out of range"])
cfg_case("eos_list_string", {"eos_token_id": "[1, \"x\"]"}, ["eos_token_id", "expected an integer"])
cfg_case("eos_negative", {"eos_token_id": "-3"}, ["eos_token_id", "out of range"])
cfg_case("heads_zero", {"num_attention_heads": "0"}, ["num_attention_heads", "positive"])
cfg_case("kv_heads_not_dividing", {"num_key_value_heads": "3"}, ["num_key_value_heads", "does not divide"])
cfg_case("layer_types_deep", {"layer_types": "{{deep:70}}"}, ["layer_types", "deeper than 64"])
cfg_case("tie_string", {"tie_word_embeddings": "\"yes\""}, ["tie_word_embeddings", "true or false"])
cfg_case("act_unknown", {"hidden_act": "\"relu2\""}, ["hidden_act", "unsupported activation"])
cfg_case("partial_rotary_2", {"partial_rotary_factor": "2"}, ["partial_rotary_factor"])
cfg_case("dtype_number", {"torch_dtype": "5"}, ["torch_dtype", "expected a string"])
cfg_case("attention_bias_int", {"attention_bias": "1"}, ["attention_bias", "true or false"])
cfg_case("long_string_truncated", {"model_type": "\"" + "x" * 5000 + "\""}, ["model_type", "..."])
case("config_not_json", ["info", "--model", "$M"], ["config.json", "not valid JSON"], model=L3, files={"$M/config.json": "{\"vocab_size\": "})
case("config_empty", ["info", "--model", "$M"], ["config.json", "not valid JSON"], model=L3, files={"$M/config.json": ""})
case("config_array", ["info", "--model", "$M"], ["config.json", "JSON object"], model=L3, files={"$M/config.json": "[1,2]"})
case("config_bad_utf8", ["info", "--model", "$M"], ["config.json", "not valid JSON"], model=L3,
     files={"$M/config.json": "{\"model_type\": \"{{hex:C3 28}}\"}"})
case("config_missing_vocab", ["info", "--model", "$M"], ["config.json", "vocab_size", "missing"], model=L3,
     files={"$M/config.json": "{\"model_type\": \"llama\", \"hidden_size\": 32}"})
case("config_missing", ["info", "--model", "$D/nomodel"], ["nomodel"], files={"$D/nomodel/x": ""})

# ---------------------------------------------------------------- generation_config.json
GEN = L3 + "/generation_config.json"
for name, raw, msg in [("eos_2p32", "4294967301", "out of range"), ("eos_1e400", "1e400", "out of range"),
                       ("deep", "{{deep:100000}}", "deeper than 64"), ("eos_float", "1.5", "expected an integer")]:
    case("generation_config_" + name, ["info", "--model", "$M"], ["generation_config.json", "eos_token_id", msg], model=L3,
         files={"$M/generation_config.json": {"from": "$S/" + GEN, "set": {"eos_token_id": raw}}})
case("generation_config_duplicate", ["info", "--model", "$M"], ["generation_config.json", "eos_token_id", "appears twice"], model=L3,
     files={"$M/generation_config.json": "{\"eos_token_id\": 2, \"eos_token_id\": 3}"})

# ---------------------------------------------------------------- safetensors
def st(name, header, msg, data=0, fill="", raw=None):
    files = {"$M/model.safetensors": raw if raw is not None else {"st_header": header, "data": data, "fill": fill}}
    case("safetensors_" + name, ["info", "--model", "$M"], ["model.safetensors"] + msg, model=L3, files=files)
T = "model.norm.weight"
st("empty", None, ["header length", "empty"], raw="")
st("short", None, ["header length", "shorter"], raw="abcd")
st("header_len_huge", None, ["header length", "exceeds"], raw="{{hex:FF FF FF FF FF FF FF 7F}}{\"a\":1}")
st("header_len_past_end", None, ["header length", "past the end"], raw="{{hex:00 10 00 00 00 00 00 00}}{}")
st("not_json", "nope", ["header", "not valid JSON"])
st("deep", "{\"a\": {{deep:100000}}}", ["header", "deeper than 64"])
st("duplicate_tensor", '{"%s":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"%s":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' % (T, T),
   ["header", T, "appears twice"], data=8)
st("dtype_unknown", '{"%s":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}' % T, [T + ".dtype", "unknown dtype"], data=1)
st("dtype_number", '{"%s":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}' % T, [T + ".dtype", "must be a string"], data=4)
st("shape_negative", '{"%s":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}' % T, [T + ".shape"], data=4)
st("shape_1e400", '{"%s":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}}' % T, ["shape", "out of range"], data=4)
st("shape_overflow", '{"%s":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}' % T, [T + ".shape", "overflows"], data=4)
st("shape_too_many_dims", '{"%s":{"dtype":"F32","shape":[%s],"data_offsets":[0,4]}}' % (T, ",".join(["1"] * 40)), [T + ".shape", "dimensions"], data=4)
st("offsets_beyond", '{"%s":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' % T, [T + ".data_offsets", "beyond"], data=4)
st("offsets_reversed", '{"%s":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}' % T, [T + ".data_offsets", "begin"], data=8)
st("offsets_size_mismatch", '{"%s":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}' % T, [T + ".data_offsets", "needs"], data=4)
st("overlap", '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
   ["data_offsets", "overlaps"], data=8)
st("gap", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', ["a.data_offsets", "gap"], data=8)
st("trailing_bytes", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', ["data_offsets", "data section holds 8"], data=8)
st("metadata_not_string", '{"__metadata__":{"k":5},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', ["__metadata__.k", "string"], data=4)
st("header_array", "[]", ["header", "JSON object"])
st("entry_not_object", '{"a": 5}', ["a", "must be an object"])
st("bad_utf8", '{"a{{hex:C3 28}}": 5}', ["header", "UTF-8"])
st("nan_weights", '{"model.embed_tokens.weight":{"dtype":"F32","shape":[64,32],"data_offsets":[0,8192]}}',
   ["model.embed_tokens.weight", "non-finite"], data=8192, fill="00 00 C0 7F")
st("inf_weights_bf16", '{"model.embed_tokens.weight":{"dtype":"BF16","shape":[64,32],"data_offsets":[0,4096]}}',
   ["model.embed_tokens.weight", "non-finite"], data=4096, fill="80 7F")
st("offsets_1e300", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}}', ["a.data_offsets"], data=4)

# ---------------------------------------------------------------- model.safetensors.index.json
SH = "tests/fixtures/llama_sharded"
IDX = SH + "/model.safetensors.index.json"
S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
def idx(name, sets, msg):
    case("index_" + name, ["info", "--model", "$M"], ["model.safetensors.index.json"] + msg, model=SH,
         files={"$M/model.safetensors.index.json": {"from": "$S/" + IDX, "set": sets}})
idx("duplicate_tensor", {"weight_map": '{"model.norm.weight": "%s", "model.norm.weight": "%s"}' % (S1, S2)}, ["weight_map", "'model.norm.weight' appears twice"])
idx("deep", {"weight_map": "{\"x\": {{deep:100000}}}"}, ["weight_map.x", "deeper than 64"])
idx("shard_path", {"weight_map": '{"model.norm.weight": "../%s"}' % S1}, ["weight_map.model.norm.weight", "plain file name"])
idx("shard_number", {"weight_map": '{"model.norm.weight": 5}'}, ["weight_map.model.norm.weight", "shard file name"])
idx("metadata_1e400", {"metadata": '{"total_size": 1e400}'}, ["metadata.total_size", "out of range"])
idx("missing_shard", {"weight_map": '{"model.norm.weight": "model-9.safetensors"}'}, ["weight_map", "does not exist"])
idx("empty_map", {"weight_map": "{}"}, ["weight_map", "empty"])
idx("map_array", {"weight_map": "[]"}, ["weight_map", "must be an object"])
idx("incomplete", {"weight_map": '{"model.norm.weight": "%s"}' % S2}, ["weight_map", "not in the index"])
case("index_not_json", ["info", "--model", "$M"], ["model.safetensors.index.json", "not valid JSON"], model=SH,
     files={"$M/model.safetensors.index.json": "{\"weight_map\": {"})

# ---------------------------------------------------------------- tokenizer.json / tokenizer_config.json
TK = "tests/tokenizer/data/bpe_gpt2like"
def tok(name, files, msg, args=None):
    fl = {"$D/tok/tokenizer.json": "{{file:%s/tokenizer.json}}" % TK, "$D/tok/tokenizer_config.json": "{{file:%s/tokenizer_config.json}}" % TK}
    fl.update(files)
    case("tokenizer_" + name, args or ["tokenize", "--tokenizer", "$D/tok", "--text", "hello"], msg, files=fl)
def tj(name, sets, msg):
    tok(name, {"$D/tok/tokenizer.json": {"from": "$S/" + TK + "/tokenizer.json", "set": sets}}, ["tokenizer.json"] + msg)
def tc(name, sets, msg):
    tok("config_" + name, {"$D/tok/tokenizer_config.json": {"from": "$S/" + TK + "/tokenizer_config.json", "set": sets}}, ["tokenizer_config.json"] + msg)
tj("deep", {"normalizer": "{{deep:200000}}"}, ["normalizer", "deeper than 64"])
tj("added_id_1e400", {"added_tokens": '[{"id": 1e400, "content": "x"}]'}, ["added_tokens[0].id", "out of range"])
tj("added_id_2p32", {"added_tokens": '[{"id": 4294967301, "content": "x"}]'}, ["added_tokens[0].id", "out of range"])
tj("added_id_negative", {"added_tokens": '[{"id": -1, "content": "x"}]'}, ["added_tokens[0].id", "out of range"])
tj("added_content_number", {"added_tokens": '[{"id": 1, "content": 5}]'}, ["added_tokens[0].content"])
tj("post_processor_id_2p32", {"post_processor": '{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[4294967301],"tokens":["<s>"]}}}'},
   ["post_processor.special_tokens.<s>.ids[0]", "out of range"])
tj("post_processor_no_sequence", {"post_processor": '{"type":"TemplateProcessing","single":[]}'}, ["post_processor.single", "no Sequence"])
tj("duplicate_key", {"version": '"1.0"', "version#2": '"1.0"'}, ["version", "appears twice"])
tj("model_missing", {"model": "null"}, ["model", "missing"])
tj("regex_bad", {"pre_tokenizer": '{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(("},"behavior":"Isolated"},{"type":"ByteLevel"}]}'},
   ["pre_tokenizer.pretokenizers[0].pattern", "regex"])
tok("not_json", {"$D/tok/tokenizer.json": "{\"model\": "}, ["tokenizer.json", "not valid JSON"])
tok("empty_object", {"$D/tok/tokenizer.json": "{}"}, ["tokenizer.json", "model"])
tc("bos_deep", {"bos_token": "{{deep:200000}}"}, ["bos_token", "deeper than 64"])
tc("add_bos_string", {"add_bos_token": '"yes"'}, ["add_bos_token", "true or false"])
tc("duplicate_key", {"add_bos_token": "true", "add_bos_token#2": "false"}, ["add_bos_token", "appears twice"])
tc("number_1e400", {"model_max_length": "1e400"}, ["model_max_length", "out of range"])
tc("decoder_key", {"added_tokens_decoder": '{"abc": {"content": "x"}}'}, ["added_tokens_decoder", "not a token id"])
tc("bos_number", {"bos_token": "5"}, ["bos_token", "expected a string"])
tc("bos_unknown", {"bos_token": '"<nope>"'}, ["bos_token", "not in"])
tok("text_file_bad_utf8", {"$D/t.txt": "ab{{hex:C3 28}}"}, ["t.txt", "not valid UTF-8 (byte 0xC3"],
    args=["tokenize", "--tokenizer", "$D/tok", "--text-file", "$D/t.txt"])
tok("text_file_dev_zero", {}, ["/dev/zero", "not a file"], args=["tokenize", "--tokenizer", "$D/tok", "--text-file", "/dev/zero"])
tok("batch_dev_zero", {}, ["/dev/zero", "line", "newline"], args=["tokenize", "--tokenizer", "$D/tok", "--batch", "/dev/zero"])
for name, line, msg in [("deep", "{\"text\": {{deep:100000}}}", "deeper than 64"), ("1e400", "{\"text\": \"a\", \"n\": 1e400}", "out of range"),
                        ("duplicate", "{\"text\": \"a\", \"text\": \"b\"}", "appears twice"), ("not_object", "[1]", "each line"),
                        ("text_number", "{\"text\": 5}", "each line")]:
    tok("batch_" + name, {"$D/b.jsonl": "{\"text\": \"ok\"}\n" + line + "\n"}, ["b.jsonl:2", msg],
        args=["tokenize", "--tokenizer", "$D/tok", "--batch", "$D/b.jsonl"])
tok("batch_missing", {}, ["nothere.jsonl", "cannot open"], args=["tokenize", "--tokenizer", "$D/tok", "--batch", "$D/nothere.jsonl"])
tok("batch_directory", {}, ["--batch", "directory"], args=["tokenize", "--tokenizer", "$D/tok", "--batch", "$D/tok"])
tok("decode_outside", {}, ["--decode", "outside the vocabulary"], args=["tokenize", "--tokenizer", "$D/tok", "--decode", "99999"])
tok("decode_not_int", {}, ["--decode", "not an integer"], args=["tokenize", "--tokenizer", "$D/tok", "--decode", "abc"])
tok("decode_2p32", {}, ["--decode", "not an integer"], args=["tokenize", "--tokenizer", "$D/tok", "--decode", "4294967301"])
tok("missing", {}, ["nothing", "no such tokenizer"], args=["tokenize", "--tokenizer", "$D/nothing", "--text", "a"])

# ---------------------------------------------------------------- mask specs (ppl)
def mask(name, spec, msg, files=None):
    case("mask_" + name, ["ppl", "--model", "$M", "--ids", "1,2,3", "--mask", spec], msg, model=L3, files=files or {})
mask("inline_layer_2p32", "L4294967296.down_proj:1", ["mask spec", "layer", "out of range"])
mask("inline_channel_range", "L0.down_proj:99999", ["mask spec", "channel", "out of range"])
mask("inline_layer_range", "L7.down_proj:1", ["mask spec", "layer", "out of range"])
mask("inline_module", "L0.bogus:1", ["mask spec", "module", "unknown module"])
mask("inline_negative", "L0.down_proj:-4", ["mask spec", "channel", "negative"])
mask("inline_position_2p32", "L0.down_proj:1@4294967296", ["mask spec", "position", "out of range"])
mask("missing_file", "$D/nomask.json", ["nomask.json", "neither"])
for name, text, msg in [("deep_faithful", '{"faithful": {"neurons": {{deep:200000}}}}', ["faithful.neurons", "deeper than 64"]),
                        ("layer_2p32", '[{"layer": 4294967296, "module": "down_proj", "channel": 0}]', ["mask.json[0]: field 'layer'", "out of range"]),
                        ("position_2p32", '[{"layer": 0, "module": "down_proj", "channel": 0, "positions": [4294967296]}]', ["mask.json[0]: field 'positions'", "out of range"]),
                        ("channel_1e400", '[{"layer": 0, "module": "down_proj", "channel": 1e400}]', ["mask.json", "[0].channel", "out of range"]),
                        ("duplicate", '[{"layer": 0, "layer": 1, "module": "down_proj", "channel": 0}]', ["[0]", "'layer' appears twice"]),
                        ("layer_negative", '[{"layer": -1, "module": "down_proj", "channel": 0}]', ["mask.json[0]: field 'layer'", "out of range"]),
                        ("module_number", '[{"layer": 0, "module": 3, "channel": 0}]', ["mask.json[0]: field 'module'", "expected a string"]),
                        ("not_array", '{"x": 1}', ["JSON array"]),
                        ("channel_float", '[{"layer": 0, "module": "down_proj", "channel": 1.5}]', ["mask.json[0]: field 'channel'", "expected an integer"])]:
    mask("json_" + name, "$D/mask.json", ["mask.json"] + msg, files={"$D/mask.json": text})

# ---------------------------------------------------------------- datasets (ppl --dataset)
def ds(name, fname, text, msg):
    case("dataset_" + name, ["ppl", "--model", "$M", "--dataset", "$D/" + fname], [fname] + msg, model=L3, files={"$D/" + fname: text})
ds("txt_bad_utf8", "d.txt", "hello\nwor{{hex:C3 28}}ld\n", [":2", "not valid UTF-8 (byte 0xC3"])
ds("jsonl_1e400", "d.jsonl", "{\"text\": \"a b c\", \"n\": 1e400}\n", [":1", "out of range"])
ds("jsonl_deep", "d.jsonl", "{\"text\": {{deep:100000}}}\n", [":1", "deeper than 64"])
ds("jsonl_duplicate", "d.jsonl", "{\"text\": \"a\", \"text\": \"b\"}\n", [":1", "appears twice"])
ds("jsonl_no_text", "d.jsonl", "{\"t\": \"a\"}\n", [":1", "text"])
ds("empty", "d.txt", "\n\n", ["no usable samples"])

# ---------------------------------------------------------------- benchmarks (eval --bench)
def bench(name, fname, text, msg):
    case("bench_" + name, ["eval", "--model", "$M", "--bench", "$D/" + fname], [fname] + msg, model=L3,
         files={"$D/" + fname: text})
BQ = '{"question": "q?", "choices": ["a", "b"], "answer": 0}\n'
bench("jsonl_missing_answer", "b.jsonl", '{"question": "q?", "choices": ["a", "b"]}\n', [":1", "'answer'", "missing"])
bench("jsonl_answer_range", "b.jsonl", BQ + '{"question": "q?", "choices": ["a", "b"], "answer": 5}\n', [":2", "'answer'", "out of range"])
bench("jsonl_one_choice", "b.jsonl", '{"question": "q?", "choices": ["a"], "answer": 0}\n', [":1", "'choices'", "fewer than 2 choices"])
bench("jsonl_bad_utf8", "b.jsonl", '{"question": "q{{hex:C3 28}}", "choices": ["a", "b"], "answer": 0}\n', [":1", "'question'", "not valid UTF-8"])
bench("jsonl_deep", "b.jsonl", '{"question": {{deep:100000}}}\n', [":1", "deeper than 64"])
bench("jsonl_1e400", "b.jsonl", '{"question": "q?", "choices": ["a", "b"], "answer": 1e400}\n', [":1", "out of range"])
bench("jsonl_arc_key", "b.jsonl", '{"question": "q?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "Z"}\n',
      [":1", "'answerKey'", "not one of the labels"])
bench("jsonl_many_choices", "b.jsonl", '{"question": "q?", "choices": [{{rep:"x",:99999}}"x"], "answer": 0}\n', [":1", "100000 choices"])
bench("empty", "b.jsonl", "", ["no questions"])
bench("csv_answer_range", "m.csv", "q?,a,b,c,d,E\n", [":1", "'answer'", "out of range"])
bench("csv_columns", "m.csv", "q?,a,b,c,d,A\nq?,a,b,A\n", [":2", "4 columns, expected 6"])
bench("csv_unclosed_quote", "m.csv", '"q?,a,b,c,d,A\n', [":1", "not closed"])
bench("csv_bad_utf8", "m.csv", "q?,a,b{{hex:FF}},c,d,A\n", [":1", "'B'", "not valid UTF-8"])
case("bench_no_tokenizer", ["eval", "--model", "$M", "--bench", "$D/b.jsonl"], ["tokenizer"], model=L3, files={"$D/b.jsonl": BQ})
case("bench_method_unknown", ["eval", "--model", "$M", "--bench", "$D/b.jsonl", "--method", "logit"], ["--method", "ll, gen or both"],
     model=L3, files={"$D/b.jsonl": BQ})
case("bench_missing", ["eval", "--model", "$M", "--bench", "$D/none.jsonl"], ["none.jsonl"], model=L3, files={"$D/x": ""})
case("bench_dev_zero", ["eval", "--model", "$M", "--bench", "/dev/zero"], ["/dev/zero"], model=L3)

# eval --chat-template: a model without tokenizer_config.json or without a template, and templates the
# renderer refuses (named with line and column), all before the model loads. No literal `{{` in these
# templates: the corpus uses it for its macros.
TKC = "$S/" + TK + "/tokenizer_config.json"
def chat(name, template_json, msg, files=None):
    fl = {"$D/b.jsonl": BQ}
    if template_json is not None:
        fl["$M/tokenizer_config.json"] = {"from": TKC, "set": {"chat_template": template_json}}
    fl.update(files or {})
    case("bench_chat_" + name, ["eval", "--model", "$M", "--bench", "$D/b.jsonl", "--chat-template"], msg, model=L3, files=fl)
chat("no_config", None, ["tokenizer_config.json", "field 'chat_template'", "no tokenizer_config.json"])
chat("missing", None, ["tokenizer_config.json", "field 'chat_template'", "is missing"],
     files={"$M/tokenizer_config.json": '{"bos_token": "<s>"}'})
chat("null", "null", ["tokenizer_config.json", "field 'chat_template'", "is missing"])
chat("number", "5", ["tokenizer_config.json", "field 'chat_template'", "a string or a list"])
chat("macro", '"{% macro m() %}x{% endmacro %}"', ["tokenizer_config.json", "field 'chat_template'", "unsupported feature: the 'macro' tag at line 1, column 4"])
chat("unknown_filter", '"x\\n{% for m in messages %}{% set c = m.content | wordcount %}{% endfor %}"',
     ["tokenizer_config.json", "field 'chat_template'", "unsupported feature: the filter 'wordcount' at line 2, column 47"])
chat("unclosed", '"{% for m in messages %}"', ["tokenizer_config.json", "field 'chat_template'", "missing {% endfor %}"])
chat("raise", '"{% if messages[0].role == \\"user\\" %}{% set x = raise_exception(\\"users are not welcome\\") %}{% endif %}"',
     ["tokenizer_config.json", "field 'chat_template'", "raised an exception", "users are not welcome"])
chat("no_default", '[{"name": "tool_use", "template": "x"}]', ["tokenizer_config.json", "none is named 'default'", "tool_use"])
chat("deep", '"{{rep:{% if true %}:1000}}"', ["tokenizer_config.json", "field 'chat_template'", "nesting deeper than 64"])
chat("steps", '"{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}"',
     ["tokenizer_config.json", "field 'chat_template'", "evaluation steps"])

# ---------------------------------------------------------------- ppl / generate arguments
case("ppl_ids_beyond_context", ["ppl", "--model", "$M", "--ids", "{{rep:5,:59999}}5"], ["--ids", "60000 ids exceed the model's context of 64"], model=L3)
case("ppl_ids_outside_vocab", ["ppl", "--model", "$M", "--ids", "1,2,999"], ["--ids", "outside the vocabulary"], model=L3)
case("ppl_ids_not_int", ["ppl", "--model", "$M", "--ids", "1,x"], ["--ids", "not an integer"], model=L3)
case("ppl_max_tokens_1", ["ppl", "--model", "$M", "--ids", "1,2", "--max-tokens", "1"], ["--max-tokens", "at least 2"], model=L3)
case("ppl_one_id", ["ppl", "--model", "$M", "--ids", "1"], ["--ids", "at least 2 tokens"], model=L3)
case("generate_max_new_capped", ["generate", "--model", "$M", "--ids", "1,2", "--max-new", "2000000000", "--no-stop"],
     ["--max-new 2000000000 capped to 62", "context of 64"], rc=0, model=L3)
case("generate_prompt_fills_context", ["generate", "--model", "$M", "--ids", "{{rep:5,:69}}5"], ["--ids", "fills the context of 64"], model=L3)
case("generate_context_negative", ["generate", "--model", "$M", "--ids", "1,2", "--context", "-1"], ["--context", "positive"], model=L3)
case("generate_ids_outside_vocab", ["generate", "--model", "$M", "--ids", "1,999"], ["--ids", "outside the vocabulary"], model=L3)
case("generate_max_new_negative", ["generate", "--model", "$M", "--ids", "1,2", "--max-new", "-1"], ["--max-new", "negative"], model=L3)
case("generate_top_p", ["generate", "--model", "$M", "--ids", "1,2", "--top-p", "2"], ["--top-p"], model=L3)
case("model_dtype", ["ppl", "--model", "$M", "--ids", "1,2", "--dtype", "f8"], ["--dtype", "f8"], model=L3)

# ---------------------------------------------------------------- --out / --figures (search)
PL = "$S/tests/fixtures/search/planted"
SRCH = ["search", "--model", PL, "--ids", "1,17,42,9,33,5,60,21,8,50,12,3", "--samples", "2", "--quiet"]
case("search_out_ulimit", SRCH + ["--out", "$D/out.json"], ["out.json", "file size limit"], ulimit_f=4,
     files={"$D/out.json": "previous result"}, keep=["$D/out.json"], timeout_s=120)
case("search_figures_ulimit", SRCH + ["--out", "$D/out.json", "--figures", "$D/fig"], ["file size limit"], ulimit_f=4,
     files={"$D/fig/curve.csv": "previous curve", "$D/out.json": "previous result"}, keep=["$D/fig/curve.csv", "$D/out.json"], timeout_s=120)
case("search_out_directory", SRCH + ["--out", "$D"], ["--out", "directory"])
case("search_out_no_folder", SRCH + ["--out", "$D/none/out.json"], ["--out", "does not exist"])
case("search_figures_is_file", SRCH + ["--figures", "$D/f.txt"], ["--figures", "cannot create"], files={"$D/f.txt": "x"})

# ---------------------------------------------------------------- sessions and results: the GUI loader, offscreen
def res(ranking='[{"layer":0,"module":"down_proj","channel":1,"position":0,"importance":1.0}]', extra=""):
    return '{"schema":"achilles.result/1","layers":2,"ids":[1,2,3],%s"ranking":%s}' % (extra, ranking)
def gui(name, text, msg, fname="s.json"):
    case("session_" + name, ["--session", "$D/" + fname, "--export-figures", "$D/fig"], [fname] + msg, gui=True,
         files={"$D/" + fname: text}, timeout_s=120)
gui("channel_int_max", res('[{"layer":0,"module":"down_proj","channel":2147483647,"position":0,"importance":1}]'), ["ranking[0].channel", "implausible"])
gui("channel_1e8", res('[{"layer":0,"module":"down_proj","channel":100000000,"position":0,"importance":1}]'), ["ranking[0].channel", "implausible"])
gui("channel_2p32", res('[{"layer":0,"module":"down_proj","channel":4294967296,"position":0,"importance":1}]'), ["ranking[0].channel", "out of range"])
gui("layers_int_max", res(extra='"layers":2147483647,').replace('"layers":2,', ''), ["layers", "out of range"])
gui("layers_3e7", res(extra='"layers":3e7,').replace('"layers":2,', ''), ["layers", "out of range"])
gui("ranking_layer", res('[{"layer":5,"module":"down_proj","channel":1,"position":0,"importance":1}]'), ["ranking[0].layer", "outside"])
gui("ranking_position", res('[{"layer":0,"module":"down_proj","channel":1,"position":99,"importance":1}]'), ["ranking[0].position", "outside"])
gui("ranking_module", res('[{"layer":0,"module":"nope","channel":1,"position":0,"importance":1}]'), ["ranking[0].module", "unknown module"])
gui("ranking_importance_string", res('[{"layer":0,"module":"down_proj","channel":1,"position":0,"importance":"x"}]'), ["ranking[0].importance"])
gui("options_samples_negative", res(extra='"options":{"samples":-5},'), ["options.samples"])
gui("options_samples_1e300", res(extra='"options":{"samples":1e300},'), ["options.samples", "out of range"])
gui("options_seed_negative", res(extra='"options":{"seed":-1},'), ["options.seed", "negative"])
gui("options_alpha_1e400", res(extra='"options":{"alpha":1e400},'), ["options.alpha", "out of range"])
gui("faithful_channel", res(extra='"faithful":{"neurons":[{"layer":0,"module":"o_proj","channel":2147483647}]},'), ["faithful.neurons[0].channel", "implausible"])
gui("faithful_size_mismatch", res(extra='"faithful":{"neurons":[],"size":3},'), ["faithful.size", "neurons holds 0"])
gui("deep", '{"schema":"achilles.result/1","x":{{deep:200000}}}', ["x", "deeper than 64"])
gui("number_1e400", '{"schema":"achilles.result/1","ppl_orig":1e400}', ["ppl_orig", "out of range"])
gui("duplicate_key", '{"schema":"achilles.result/1","layers":2,"layers":3}', ["layers", "appears twice"])
gui("schema_unknown", '{"schema":"achilles.result/9"}', ["schema"])
gui("not_json", '{"schema": ', ["not valid JSON"])
gui("not_object", '[1,2,3]', ["JSON object"])
gui("ids_negative", '{"schema":"achilles.result/1","ids":[1,-2]}', ["ids[1]", "out of range"])
gui("curve_point_string", '{"schema":"achilles.result/1","curve":[{"n":"x","ppl":1}]}', ["curve[0].n", "expected an integer"])
gui("sweep_points_deep", '{"schema":"achilles.result/1","sweep":[{"name":"a","points":{{deep:70}}}]}', ["sweep[0].points", "deeper than 64"])
SES = '{"schema":"achilles.session/1","model":{"path":""},%s"result":null}'
gui("session_options_1e300", SES % '"options":{"samples":1e300},', ["options.samples", "out of range"], fname="s.achilles")
gui("session_options_seed_float", SES % '"options":{"seed":-3},', ["options.seed"], fname="s.achilles")
gui("session_masks_channel", SES % '"masks":[{"layer":0,"module":"down_proj","channel":2147483647}],', ["masks", "implausible"], fname="s.achilles")
gui("session_masks_layer_2p32", SES % '"masks":[{"layer":4294967296,"module":"down_proj","channel":1}],', ["masks", "out of range"], fname="s.achilles")
gui("session_model_not_object", '{"schema":"achilles.session/1","model":5}', ["model"], fname="s.achilles")
gui("session_result_channel", SES.replace('"result":null', '"result":' + res('[{"layer":0,"module":"down_proj","channel":2147483647,"position":0,"importance":1}]')) % '',
    ["(result)", "ranking[0].channel"], fname="s.achilles")
case("session_dev_zero", ["--session", "/dev/zero", "--export-figures", "$D/fig"], ["/dev/zero", "not a regular file"], gui=True, timeout_s=60)
case("session_missing", ["--session", "$D/none.achilles", "--export-figures", "$D/fig"], ["none.achilles", "does not exist"], gui=True, timeout_s=60)
case("session_directory", ["--session", "$D", "--export-figures", "$D/fig"], ["directory"], gui=True, timeout_s=60, files={"$D/x": ""})

# ---------------------------------------------------------------- ablation modes, weight edits, mechanism commands
mask("mode_unknown", "L0.down_proj:1=avg", ["mask spec", "mode", "unknown ablation mode"])
mask("mode_scale_missing", "L0.down_proj:1=scale", ["mask spec", "factor", "needs a factor"])
mask("mode_scale_nan", "L0.down_proj:1=scale:nan", ["mask spec", "factor", "not a finite number"])
mask("mode_scale_huge", "L0.down_proj:1=scale:1e300", ["mask spec", "factor", "out of range"])
mask("mode_clamp_low", "L0.down_proj:1=clamp:10", ["mask spec", "percentile", "[50, 100]"])
mask("json_mode_number", "$D/mask.json", ["mask.json[0]: field 'mode'", "expected a string"],
     files={"$D/mask.json": '[{"layer": 0, "module": "down_proj", "channel": 0, "mode": 1}]'})
mask("json_clamp_no_percentile", "$D/mask.json", ["mask.json[0]: field 'percentile'", "missing"],
     files={"$D/mask.json": '[{"layer": 0, "module": "down_proj", "channel": 0, "mode": "clamp"}]'})
mask("json_clamp_lo_gt_hi", "$D/mask.json", ["mask.json[0]: field 'lo'", "must not exceed"],
     files={"$D/mask.json": '[{"layer": 0, "module": "down_proj", "channel": 0, "mode": "clamp", "percentile": 90, "lo": 2, "hi": 1}]'})
def ppl_case(name, extra, msg):
    case("ppl_" + name, ["ppl", "--model", "$M", "--ids", "1,2,3"] + extra, msg, model=L3)
ppl_case("weight_edit_col_range", ["--weight-edit", "L0.down_proj[1,99999]*0"], ["weight edit", "col", "out of range"])
ppl_case("weight_edit_row_range", ["--weight-edit", "L0.q_proj[4096,0]*0"], ["weight edit", "row", "out of range"])
ppl_case("weight_edit_layer_range", ["--weight-edit", "L9.down_proj[0,0]*0"], ["weight edit", "layer", "out of range"])
ppl_case("weight_edit_not_linear", ["--weight-edit", "L0.act_fn[0,0]*0"], ["weight edit", "module", "linear"])
ppl_case("weight_edit_syntax", ["--weight-edit", "L0.down_proj(1,2)"], ["weight edit", "module"])
ppl_case("weight_edit_factor", ["--weight-edit", "L0.down_proj[1,2]*x"], ["weight edit", "factor"])
ppl_case("calibrate_without_mode", ["--mask", "L0.down_proj:1", "--calibrate-ids", "1,2"], ["--calibrate-ids", "no mean or clamp"])
ppl_case("calibrate_ids_bad_sample", ["--mask", "L0.down_proj:1=mean", "--calibrate-ids", "1,2;x"], ["--calibrate-ids", "'x' is not an integer"])
ppl_case("calibrate_ids_empty_sample", ["--mask", "L0.down_proj:1=mean", "--calibrate-ids", "1,2;"], ["--calibrate-ids", "list of integers"])
ppl_case("calibrate_dataset_missing", ["--mask", "L0.down_proj:1=mean", "--calibrate-dataset", "$D/none.jsonl"], ["none.jsonl"])
case("ppl_calibrate_dataset_not_utf8", ["ppl", "--model", "$M", "--ids", "1,2,3", "--mask", "L0.down_proj:1=mean", "--calibrate-dataset", "$D/cal.txt"],
     ["cal.txt", "UTF-8"], model=L3, files={"$D/cal.txt": "abc {{hex:C3 28}} def"})
ppl_case("calibrate_max_samples_negative", ["--mask", "L0.down_proj:1=mean", "--calibrate-dataset", "$D/none.jsonl", "--calibrate-max-samples", "-1"],
         ["--calibrate-max-samples", "negative"])
ppl_case("calibrate_id_range", ["--mask", "L0.down_proj:1=mean", "--calibrate-ids", "1,99999"], ["ids", "outside the vocabulary"])
def mech(name, args, msg):
    case("mech_" + name, args[:1] + ["--model", "$M"] + args[1:], msg, model=L3)
mech("massive_top_k", ["massive", "--ids", "1,2,3", "--top-k", "0"], ["top_k", "[1, 1000]"])
mech("massive_ratio", ["massive", "--ids", "1,2,3", "--ratio", "0.5"], ["ratio", ">= 1"])
mech("massive_ids_range", ["massive", "--ids", "1,2,999"], ["ids", "outside the vocabulary"])
mech("massive_critical_bad", ["massive", "--ids", "1,2,3", "--critical", "L0.nope:1"], ["mask spec", "module"])
# --mask adds the masked forward (the "masked" block): a bad mask stops it before any forward.
mech("massive_mask_layer", ["massive", "--ids", "1,2,3", "--mask", "L9.down_proj:1"], ["mask spec", "'layer'", "out of range"])
mech("massive_mask_channel", ["massive", "--ids", "1,2,3", "--mask", "L0.down_proj:99999"], ["'channel'", "down_proj has 32 channels"])
mech("massive_mask_mode", ["massive", "--ids", "1,2,3", "--mask", "L0.down_proj:1=scale:x"], ["'factor'", "not a finite number"])
mech("sinks_one_token", ["sinks", "--ids", "1"], ["ids", "at least 2 tokens"])
mech("sinks_pattern_range", ["sinks", "--ids", "1,2,3", "--pattern", "9.0"], ["pattern", "out of range"])
mech("sinks_pattern_syntax", ["sinks", "--ids", "1,2,3", "--pattern", "x"], ["--pattern", "LAYER.HEAD"])
mech("lens_position_range", ["lens", "--ids", "1,2,3", "--position", "2"], ["position", "[0, 1]"])
mech("lens_top_range", ["lens", "--ids", "1,2,3", "--top", "100000"], ["top"])
mech("trace_module", ["trace", "--ids", "1,2,3", "--neuron", "L0.q_proj:1"], ["neuron", "down_proj or act_fn"])
mech("trace_neuron_two", ["trace", "--ids", "1,2,3", "--neuron", "L0.down_proj:1,L0.down_proj:2"], ["--neuron", "one channel"])
mech("trace_token_range", ["trace", "--ids", "1,2,3", "--neuron", "L0.down_proj:1", "--token", "7"], ["token", "< 3"])
mech("trace_scale_nan", ["trace", "--ids", "1,2,3", "--neuron", "L0.down_proj:1", "--scale", "nan"], ["scale", "finite"])
mech("trace_channel_range", ["trace", "--ids", "1,2,3", "--neuron", "L0.down_proj:999"], ["mask spec", "channel", "out of range"])
mech("curve_missing_result", ["curve", "--result", "$D/none.json"], ["none.json"])
mech("curve_mode_bad", ["curve", "--result", "$D/none.json", "--mode", "avg"], ["--mode", "unknown ablation mode"])

here = os.path.dirname(os.path.abspath(__file__))
names = [c["name"] for c in C]
assert len(names) == len(set(names)), "duplicate case names"
with open(os.path.join(here, "cases.json"), "w") as f:
    json.dump(C, f, indent=1)
    f.write("\n")
print(len(C), "cases")
