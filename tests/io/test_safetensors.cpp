// SPDX-License-Identifier: GPL-3.0-or-later
// The safetensors reader/writer: interop with an independent Python writer/reader (numpy),
// zero-copy views, a table of corrupt files that must each give a clear Error, and a seeded
// mutation loop that must never crash.
#include "achilles/error.h"
#include "achilles/safetensors.h"
#include "test_paths.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

using namespace achilles;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
    fs::path d = fs::path(test::build_scratch()) / "io_safetensors";
    fs::create_directories(d);
    return (d / name).string();
}

std::string raw_file(const std::string& header, const std::string& data, uint64_t claimed = UINT64_MAX) {
    uint64_t n = claimed == UINT64_MAX ? header.size() : claimed;
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out + header + data;
}

void put(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

float half_to_float(uint16_t h) {  // IEEE 754 binary16, written independently of the code under test
    int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;
    if (e == 0) v = std::ldexp(float(m), -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = std::ldexp(float(m + 1024), e - 25);
    return s ? -v : v;
}
float bf16_to_float(uint16_t b) {
    uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
template <class T>
std::vector<T> values(const TensorView& t) {
    std::vector<T> v(t.nbytes / sizeof(T));
    std::memcpy(v.data(), t.data, t.nbytes);
    return v;
}
template <class T>
std::vector<std::byte> bytes_of(const std::vector<T>& v) {
    std::vector<std::byte> b(v.size() * sizeof(T));
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}

QString run_python(const QString& script, const QStringList& args, bool* ok) {
    QProcess p;
    p.start(ACHILLES_PYTHON3, QStringList{"-c", script} + args);
    *ok = p.waitForFinished(60000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
    if (!*ok) qWarning() << p.readAllStandardError();
    return QString::fromUtf8(p.readAllStandardOutput());
}

bool python_has_numpy() {
    static int state = -1;
    if (state < 0) {
        bool ok = false;
        run_python("import numpy", {}, &ok);
        state = ok ? 1 : 0;
    }
    return state == 1;
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
private slots:
    void dtypeTable();
    void readsPythonWrittenFile();
    void pythonReadsOurFile();
    void roundTripAndZeroCopy();
    void viewsOutliveFile();
    void writerRejectsBadInput();
    void corruptFiles_data();
    void corruptFiles();
    void mutationsNeverCrash();
};

void TestSafetensors::dtypeTable() {
    QCOMPARE(dtype_size(DType::F32), size_t(4));
    QCOMPARE(dtype_size(DType::BF16), size_t(2));
    QCOMPARE(dtype_size(DType::F16), size_t(2));
    QCOMPARE(dtype_size(DType::F64), size_t(8));
    QCOMPARE(dtype_size(DType::I64), size_t(8));
    QCOMPARE(dtype_size(DType::BOOL), size_t(1));
    QCOMPARE(std::string(dtype_name(DType::BF16)), std::string("BF16"));
    QCOMPARE(std::string(dtype_name(DType::U8)), std::string("U8"));
    QVERIFY(dtype_from_name("I16") == DType::I16);
    QVERIFY(!dtype_from_name("F8_E4M3").has_value());
    TensorView t;
    t.shape = {3, 0, 2};
    QCOMPARE(t.numel(), int64_t(0));
    t.shape = {};
    QCOMPARE(t.numel(), int64_t(1));  // a scalar
}

// An independent writer (Python, struct + json + numpy) -> our reader.
void TestSafetensors::readsPythonWrittenFile() {
    if (!python_has_numpy()) QSKIP("/usr/bin/python3 with numpy is not available");
    const std::string path = scratch("python.safetensors");
    const char* script = R"PY(
import json, struct, sys, numpy as np
f32 = np.array([[1.5, -2.25, 3.0], [0.0, -0.0, 1e-3]], dtype='<f4')
f16 = np.array([0.5, -1.25, 65504.0, 6.103515625e-05], dtype='<f2')
# bfloat16 = the high 16 bits of float32 (exact for these values)
bf = (np.array([1.0, -3.5, 256.0, 0.0078125], dtype='<f4').view('<u4') >> 16).astype('<u2')
i64 = np.array([-5, 1 << 40], dtype='<i8')
ts = [('w.f32', 'F32', [2, 3], f32.tobytes()), ('w.f16', 'F16', [4], f16.tobytes()),
      ('w.bf16', 'BF16', [2, 2], bf.tobytes()), ('idx', 'I64', [2], i64.tobytes()), ('empty', 'F32', [0, 3], b'')]
hdr, off, data = {}, 0, b''
for n, d, s, b in ts:
    hdr[n] = {'dtype': d, 'shape': s, 'data_offsets': [off, off + len(b)]}
    off += len(b); data += b
hdr['__metadata__'] = {'format': 'pt', 'note': 'written by python'}
h = json.dumps(hdr).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + data)
)PY";
    bool ok = false;
    run_python(script, {QString::fromStdString(path)}, &ok);
    QVERIFY(ok);

    auto f = SafetensorsFile::open(path);
    QCOMPARE(f->tensors().size(), size_t(5));
    QCOMPARE(f->metadata().at("format"), std::string("pt"));
    QCOMPARE(f->metadata().at("note"), std::string("written by python"));

    const auto& a = f->tensors().at("w.f32");
    QVERIFY(a.dtype == DType::F32);
    QCOMPARE(a.shape, (std::vector<int64_t>{2, 3}));
    QCOMPARE(a.numel(), int64_t(6));
    QCOMPARE(values<float>(a), (std::vector<float>{1.5f, -2.25f, 3.0f, 0.0f, -0.0f, 1e-3f}));
    QCOMPARE(a.file, path);

    const auto& h = f->tensors().at("w.f16");
    QVERIFY(h.dtype == DType::F16);
    auto hv = values<uint16_t>(h);
    QCOMPARE(half_to_float(hv[0]), 0.5f);
    QCOMPARE(half_to_float(hv[1]), -1.25f);
    QCOMPARE(half_to_float(hv[2]), 65504.0f);
    QCOMPARE(half_to_float(hv[3]), 6.103515625e-05f);

    const auto& b = f->tensors().at("w.bf16");
    QVERIFY(b.dtype == DType::BF16);
    auto bv = values<uint16_t>(b);
    QCOMPARE(bf16_to_float(bv[0]), 1.0f);
    QCOMPARE(bf16_to_float(bv[1]), -3.5f);
    QCOMPARE(bf16_to_float(bv[2]), 256.0f);
    QCOMPARE(bf16_to_float(bv[3]), 0.0078125f);

    QCOMPARE(values<int64_t>(f->tensors().at("idx")), (std::vector<int64_t>{-5, int64_t(1) << 40}));
    const auto& e = f->tensors().at("empty");
    QCOMPARE(e.nbytes, size_t(0));
    QCOMPARE(e.numel(), int64_t(0));
}

// Our writer -> an independent reader (Python), which also checks the 8-byte header padding.
void TestSafetensors::pythonReadsOurFile() {
    if (!python_has_numpy()) QSKIP("/usr/bin/python3 with numpy is not available");
    const std::string path = scratch("ours.safetensors");
    std::vector<float> f32 = {0.25f, -7.0f, 1e10f, 3.0f, -0.125f, 42.0f};
    std::vector<uint16_t> f16 = {0x3C00 /*1*/, 0xC500 /*-5*/, 0x3555 /*0.333251953125*/};
    std::vector<uint16_t> bf = {0x3F80 /*1*/, 0xC0A0 /*-5*/, 0x4049 /*3.140625*/};
    write_safetensors(path,
                      {{"b.weight", DType::F32, {2, 3}, bytes_of(f32)},
                       {"a.half", DType::F16, {3}, bytes_of(f16)},
                       {"c.bf", DType::BF16, {3, 1}, bytes_of(bf)}},
                      {{"format", "pt"}});
    const char* script = R"PY(
import json, struct, sys, numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
assert n % 8 == 0, 'header not padded to 8 bytes'
h = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
out = {'meta': h.pop('__metadata__', {})}
ends = sorted((v['data_offsets'][0], v['data_offsets'][1]) for v in h.values())
pos = 0
for b, e in ends:
    assert b == pos, 'gap or overlap'
    pos = e
assert pos == len(data), 'trailing bytes'
for k, v in h.items():
    b, e = v['data_offsets']
    buf = data[b:e]
    if v['dtype'] == 'F32': vals = np.frombuffer(buf, dtype='<f4').astype(float).tolist()
    elif v['dtype'] == 'F16': vals = np.frombuffer(buf, dtype='<f2').astype(float).tolist()
    elif v['dtype'] == 'BF16':
        vals = (np.frombuffer(buf, dtype='<u2').astype('<u4') << 16).view('<f4').astype(float).tolist()
    out[k] = {'dtype': v['dtype'], 'shape': v['shape'], 'values': vals}
print(json.dumps(out))
)PY";
    bool ok = false;
    QString out = run_python(script, {QString::fromStdString(path)}, &ok);
    QVERIFY(ok);
    QJsonObject j = QJsonDocument::fromJson(out.toUtf8()).object();
    QCOMPARE(j["meta"].toObject()["format"].toString(), QString("pt"));
    auto vals = [&](const char* k) {
        std::vector<double> v;
        for (auto x : j[k].toObject()["values"].toArray()) v.push_back(x.toDouble());
        return v;
    };
    QCOMPARE(j["b.weight"].toObject()["dtype"].toString(), QString("F32"));
    QCOMPARE(j["b.weight"].toObject()["shape"].toArray(), (QJsonArray{2, 3}));
    QCOMPARE(vals("b.weight"), (std::vector<double>{0.25, -7.0, 1e10, 3.0, -0.125, 42.0}));
    QCOMPARE(vals("a.half"), (std::vector<double>{1.0, -5.0, 0.333251953125}));
    QCOMPARE(vals("c.bf"), (std::vector<double>{1.0, -5.0, 3.140625}));
    QCOMPARE(j["c.bf"].toObject()["shape"].toArray(), (QJsonArray{3, 1}));
}

void TestSafetensors::roundTripAndZeroCopy() {
    const std::string path = scratch("roundtrip.safetensors");
    std::vector<float> w(1000);
    for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.5f - 100.0f;
    std::vector<uint16_t> h = {0x3C00, 0x0001, 0x7BFF, 0x8000};
    std::vector<double> d = {1.0 / 3.0, -2.5e-300};
    write_safetensors(path, {{"x", DType::F32, {10, 100}, bytes_of(w)},
                             {"h", DType::F16, {4}, bytes_of(h)},
                             {"d", DType::F64, {2}, bytes_of(d)},
                             {"s", DType::I32, {}, bytes_of(std::vector<int32_t>{-7})}});
    auto f = SafetensorsFile::open(path);
    QCOMPARE(f->path(), path);
    QCOMPARE(f->file_size(), size_t(fs::file_size(path)));
    QCOMPARE(values<float>(f->tensors().at("x")), w);
    QCOMPARE(values<uint16_t>(f->tensors().at("h")), h);
    QCOMPARE(values<double>(f->tensors().at("d")), d);
    QCOMPARE(values<int32_t>(f->tensors().at("s")), std::vector<int32_t>{-7});
    QCOMPARE(f->tensors().at("s").shape.size(), size_t(0));

    // Zero copy: each view points into the mapping at 8 + N + data_offsets[0].
    const std::string bytes = slurp(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    QCOMPARE(n % 8, uint64_t(0));
    QCOMPARE(f->header_json().size(), size_t(n));
    const std::byte* base = f->mapped_data();
    QVERIFY(base != nullptr);
    QVERIFY(std::memcmp(base, bytes.data(), bytes.size()) == 0);
    size_t covered = 0;
    for (const auto& [name, t] : f->tensors()) {
        QVERIFY2(t.data >= base + 8 + n && t.data + t.nbytes <= base + f->file_size(), name.c_str());
        QVERIFY(t.owner != nullptr);
        covered += t.nbytes;
    }
    QCOMPARE(covered, bytes.size() - 8 - n);
    // The header (read here with Qt's JSON parser) says where each tensor lives; the view must be
    // exactly there in the mapping, not a copy.
    QJsonObject hdr = QJsonDocument::fromJson(QByteArray::fromStdString(bytes.substr(8, n))).object();
    for (const char* name : {"x", "h", "d", "s"}) {
        qint64 begin = hdr[name].toObject()["data_offsets"].toArray()[0].toInteger();
        QCOMPARE(f->tensors().at(name).data, base + 8 + n + begin);
    }
}

void TestSafetensors::viewsOutliveFile() {
    const std::string path = scratch("outlive.safetensors");
    std::vector<float> w = {1, 2, 3, 4};
    write_safetensors(path, {{"w", DType::F32, {4}, bytes_of(w)}});
    TensorView v;
    {
        auto f = SafetensorsFile::open(path);
        v = f->tensors().at("w");
    }  // the file object is gone; the mapping must live on through v.owner
    QCOMPARE(values<float>(v), w);
}

void TestSafetensors::writerRejectsBadInput() {
    const std::string path = scratch("bad_write.safetensors");
    fs::remove(path);
    auto throws_field = [&](std::vector<TensorData> t, const std::string& field) {
        try {
            write_safetensors(path, t);
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find(field) != std::string::npos, e.what());
            return;
        }
        QFAIL(("no Error for " + field).c_str());
    };
    throws_field({{"a", DType::F32, {3}, std::vector<std::byte>(8)}}, "a");             // 8 bytes for 12
    throws_field({{"a", DType::F32, {1}, std::vector<std::byte>(4)}, {"a", DType::F32, {1}, std::vector<std::byte>(4)}},
                 "duplicate");
    throws_field({{"a", DType::F32, {-1}, {}}}, "a.shape");
    throws_field({{"__metadata__", DType::F32, {1}, std::vector<std::byte>(4)}}, "reserved");
    QVERIFY(!fs::exists(path));  // nothing half-written
    // A directory as target.
    bool threw = false;
    try {
        write_safetensors(fs::path(path).parent_path().string(), {});
    } catch (const Error&) {
        threw = true;
    }
    QVERIFY(threw);
}

void TestSafetensors::corruptFiles_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("field");

    const std::string good_hdr = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const std::string data8(8, '\x01');
    auto row = [](const char* name, const std::string& bytes, const char* field) {
        QTest::newRow(name) << QByteArray(bytes.data(), qsizetype(bytes.size())) << QString(field);
    };
    row("empty file", "", "header length");
    row("shorter than 8 bytes", std::string("\x10\x00\x00", 3), "header length");
    row("truncated in header", raw_file(good_hdr, data8).substr(0, 20), "header length");
    row("truncated in data", raw_file(good_hdr, data8).substr(0, 8 + good_hdr.size() + 5), "a.data_offsets");
    row("header length lies (huge)", raw_file(good_hdr, data8, 1000000), "header length");
    row("header length over bound", raw_file(good_hdr, data8, 200ull * 1024 * 1024), "header length");
    row("header length near 2^64", raw_file(good_hdr, data8, UINT64_MAX - 1) , "header length");
    row("header length 0", raw_file("", data8), "header length");
    row("invalid JSON", raw_file(R"({"a":{"dtype":"F32",)", data8), "header");
    row("non-UTF-8 header", raw_file("{\"a\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data8),
        "header");
    row("overlong UTF-8", raw_file("{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data8),
        "header");
    row("non-object header", raw_file("[1,2,3]", data8), "header");
    row("unknown dtype", raw_file(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}})", data8), "a.dtype");
    row("dtype not a string", raw_file(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", data8), "a.dtype");
    row("missing dtype", raw_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", data8), "a.dtype");
    row("negative shape", raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8), "a.shape");
    row("fractional shape", raw_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", data8), "a.shape");
    row("shape overflows",
        raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", data8), "a.shape");
    row("missing shape", raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", data8), "a.shape");
    row("shape x dtype != byte range", raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
        "a.data_offsets");
    row("dtype size mismatch", raw_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", data8),
        "a.data_offsets");
    row("offsets out of bounds", raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
        "a.data_offsets");
    row("begin after end", raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8),
        "a.data_offsets");
    row("offsets not a pair", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data8),
        "a.data_offsets");
    row("negative offset", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", data8),
        "a.data_offsets");
    row("overlapping ranges",
        raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 data8),
        ".data_offsets");
    row("gap between ranges",
        raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})",
                 data8),
        "b.data_offsets");
    row("trailing bytes", raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data8), "data_offsets");
    row("entry not an object", raw_file(R"({"a":[1,2]})", data8), "a");
    row("metadata not strings",
        raw_file(R"({"__metadata__":{"k":3},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data8),
        "__metadata__.k");
    row("deep nesting", raw_file(std::string(200, '[') + std::string(200, ']'), data8), "header");
}

void TestSafetensors::corruptFiles() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, field);
    const std::string path = scratch(std::string("corrupt_") + QTest::currentDataTag() + ".safetensors");
    put(path, bytes.toStdString());
    try {
        auto f = SafetensorsFile::open(path);
        QFAIL("opened a corrupt file without an Error");
    } catch (const Error& e) {
        const std::string msg = e.what();
        QVERIFY2(msg.find(path) != std::string::npos, msg.c_str());
        QVERIFY2(msg.find(field.toStdString()) != std::string::npos, msg.c_str());
        QCOMPARE(e.file(), path);
    }
}

void TestSafetensors::mutationsNeverCrash() {
    // Missing file and directory first.
    for (const std::string& p : {scratch("does-not-exist.safetensors"), fs::path(scratch("x")).parent_path().string()}) {
        try {
            SafetensorsFile::open(p);
            QFAIL("opened a missing file or a directory");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find(p) != std::string::npos, e.what());
        }
    }

    const std::string good = scratch("fuzz_base.safetensors");
    write_safetensors(good,
                      {{"model.embed.weight", DType::F32, {4, 3}, std::vector<std::byte>(48, std::byte{7})},
                       {"b", DType::BF16, {5}, std::vector<std::byte>(10, std::byte{1})},
                       {"i", DType::I64, {2}, std::vector<std::byte>(16, std::byte{2})}},
                      {{"format", "pt"}});
    const std::string base = slurp(good);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(base[i]);
    fs::create_directories(scratch("fuzz"));
    std::mt19937_64 rng(20251012);
    int opened = 0, rejected = 0;
    for (int it = 0; it < 2000; ++it) {
        std::string b = base;
        int kind = int(rng() % 10);
        if (kind == 0) {
            b.resize(rng() % b.size());
        } else if (kind == 1) {
            b += std::string(1 + rng() % 16, char(rng()));
        } else {
            int flips = 1 + int(rng() % 3);
            for (int k = 0; k < flips; ++k) {
                // Mostly in the length and header, where the structure is.
                size_t pos = (rng() % 4) ? rng() % (8 + n) : rng() % b.size();
                static const char interesting[] = {'0', '9', '-', '"', '[', ']', '{', '}', ',', ':', '\xff', '\0', ' '};
                b[pos] = (rng() % 2) ? interesting[rng() % sizeof interesting] : char(rng());
            }
        }
        const std::string path = scratch("fuzz/" + std::to_string(it % 64) + ".safetensors");
        fs::remove(path);  // a new inode each time: rewriting one file in place is slow on some filesystems
        put(path, b);
        try {
            auto f = SafetensorsFile::open(path);
            ++opened;
            const std::byte* lo = f->mapped_data();
            for (const auto& [name, t] : f->tensors()) {
                QVERIFY(t.data >= lo && t.data + t.nbytes <= lo + f->file_size());
                QCOMPARE(size_t(t.numel()) * dtype_size(t.dtype), t.nbytes);
            }
        } catch (const Error& e) {
            ++rejected;
            QVERIFY(std::string(e.what()).find(path) != std::string::npos);
        }
    }
    fs::remove_all(scratch("fuzz"));
    qInfo() << "mutations: opened" << opened << "rejected" << rejected;
    QVERIFY(rejected > 1000);  // most mutations of the structure must be caught
}

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
