// SPDX-License-Identifier: GPL-3.0-or-later
// The stage-1 noise sources: the counter-based generator, PyTorch's CPU generator drawn the way
// the authors' code draws it, and a NumPy file. And --dump-noise, which writes what a run used.
#include "analysis/search_internal.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/npy.h"
#include <ATen/CPUGeneratorImpl.h>
#include <cstring>

namespace achilles::detail {

NoiseSource::NoiseSource(const SearchOptions& o, int64_t T, int64_t H) : o_(o), T_(T), H_(H) {
    if (!o.noise_file.empty()) {
        const NpyHeader h = read_npy_header(o.noise_file);
        const std::vector<int64_t> want{o.samples, T, H};
        if (h.shape.size() != 3)
            throw Error(o.noise_file, "shape", shape_text(h.shape) + " must have 3 dimensions [K, T, D] = " +
                                                   shape_text(want));
        const char* dims[] = {"K (samples)", "T (tokens of the probe, BOS included)", "D (hidden size)"};
        for (int i = 0; i < 3; ++i)
            if (h.shape[size_t(i)] != want[size_t(i)])
                throw Error(o.noise_file, "shape",
                            shape_text(h.shape) + " does not match this run's [K, T, D] = " + shape_text(want) + ": " +
                                dims[i] + " is " + std::to_string(want[size_t(i)]) + ", the file has " +
                                std::to_string(h.shape[size_t(i)]));
        file_.open(o.noise_file, std::ios::binary);
        if (!file_) throw Error(o.noise_file, "", "cannot open for reading");
        file_.seekg(static_cast<std::streamoff>(h.data_offset));
        f64_ = h.descr == "<f8";
        kind_ = Kind::file;
    } else {
        kind_ = o.noise_rng == NoiseRng::torch ? Kind::torch : Kind::counter;
        if (kind_ == Kind::torch) gen_ = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    }
}

std::string NoiseSource::descr() const {
    if (kind_ == Kind::counter) return "<f8";
    if (kind_ == Kind::torch) return "<f4";
    return f64_ ? "<f8" : "<f4";
}

at::Tensor NoiseSource::next(int64_t count) {
    at::Tensor out;
    if (kind_ == Kind::counter) {
        out = noise_block(o_.seed, drawn_, count, T_, H_);
    } else if (kind_ == Kind::torch) {
        std::vector<at::Tensor> parts;
        for (int64_t k = 0; k < count; ++k)
            parts.push_back(at::randn({1, T_, H_}, gen_, at::TensorOptions().dtype(at::kFloat)));
        out = at::cat(parts, 0).to(at::kDouble);
    } else {
        const int64_t n = count * T_ * H_;
        at::Tensor raw = at::empty({count, T_, H_}, at::TensorOptions().dtype(f64_ ? at::kDouble : at::kFloat));
        const std::streamsize bytes = static_cast<std::streamsize>(n * (f64_ ? 8 : 4));
        file_.read(static_cast<char*>(raw.data_ptr()), bytes);
        if (file_.gcount() != bytes)
            throw Error(o_.noise_file, "", "could not read sample " + std::to_string(drawn_) + " (the file changed?)");
        out = raw.to(at::kDouble);
    }
    drawn_ += count;
    return out;
}

}  // namespace achilles::detail

namespace achilles {

void dump_noise(const Engine& engine, const std::vector<int>& ids, const SearchOptions& o, const std::string& path,
                Progress& progress) {
    const int64_t T = static_cast<int64_t>(ids.size());
    const int64_t H = engine.info().hidden;
    detail::NoiseSource src(o, T, H);
    const std::string header = npy_header(src.descr(), {o.samples, T, H});
    int k = 0;
    bool header_done = false;
    write_file_atomic_chunks(path, [&](std::string& chunk) {
        progress.check();
        if (!header_done) {
            header_done = true;
            chunk = header;
            return true;
        }
        if (k >= o.samples) return false;
        at::Tensor b = src.next(1);
        if (src.descr() == "<f4") b = b.to(at::kFloat);
        chunk.assign(static_cast<const char*>(b.data_ptr()), static_cast<size_t>(b.numel() * b.element_size()));
        ++k;
        progress.report("noise", double(k) / o.samples, "noise sample " + std::to_string(k));
        return true;
    });
}

}  // namespace achilles
