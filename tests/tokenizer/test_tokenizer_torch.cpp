// SPDX-License-Identifier: GPL-3.0-or-later
// libtorch (which loads libprotobuf 3.21) and the SentencePiece bridge (libsentencepiece with its
// bundled protobuf-lite) must coexist in one process.
#include "achilles/error.h"
#include "achilles/tokenizer.h"
#include "test_paths.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

using namespace achilles;

class TestTokenizerTorch : public QObject {
    Q_OBJECT
private slots:
    void torchThenSentencePiece() {
        at::Tensor t = at::arange(12, at::kFloat).reshape({3, 4});
        at::Tensor s = t.sum();
        QCOMPARE(s.item<float>(), 66.0f);

        // Train a tiny model through the bridge, then load and encode with torch already live.
        namespace fs = std::filesystem;
        fs::path dir = fs::path(test::build_scratch()) / "tok_torch";
        fs::create_directories(dir);
        {
            std::ofstream f(dir / "corpus.txt");
            const char* words[] = {"alpha", "beta", "gamma", "delta", "tensor", "neuron", "mask", "layer"};
            unsigned x = 7;
            for (int line = 0; line < 400; ++line) {
                for (int w = 0; w < 9; ++w) {
                    x = x * 1103515245u + 12345u;
                    f << words[(x >> 16) % 8] << (w == 8 ? "\n" : " ");
                }
            }
        }
        train_sentencepiece("--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "m").string() +
                            " --vocab_size=60 --model_type=bpe --minloglevel=2 --num_threads=1");
        auto tok = load_tokenizer((dir / "m.model").string());
        QCOMPARE(QString::fromStdString(tok->kind()), QString("sentencepiece"));
        std::vector<int> ids = tok->encode("alpha tensor mask", {});
        QVERIFY(ids.size() >= 2);
        QCOMPARE(ids.front(), tok->bos_id());
        QCOMPARE(QString::fromStdString(tok->decode(ids, true)), QString("alpha tensor mask"));

        if (std::string p = test::shared_path("tokenizers/llama2/tokenizer.model"); !p.empty()) {
            auto l2 = load_tokenizer(p);
            // "Hello world" in Llama-2: [1, 15043, 3186] (BOS, "▁Hello", "▁world").
            std::vector<int> h = l2->encode("Hello world", {});
            QCOMPARE(h, (std::vector<int>{1, 15043, 3186}));
        }
        // Torch still works after the bridge is loaded.
        at::Tensor m = at::matmul(t, t.transpose(0, 1));
        QCOMPARE(m.index({0, 0}).item<float>(), 14.0f);
    }
};

QTEST_APPLESS_MAIN(TestTokenizerTorch)
#include "test_tokenizer_torch.moc"
