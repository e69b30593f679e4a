// Python binding of score_histogram (see metricore/score_histogram.hpp).
#include "bind_args.hpp"
#include "metricore/score_histogram.hpp"

namespace metricore::bind {
namespace {

// The bucket grid of read-only threshold arrays that own their memory, kept per array object
// (a strong reference is held, so a cached object is never freed and its id never reused;
// such an array's values cannot change unless someone sets it writeable again, which
// metricore never does with the arrays it passes). A metric passes the same read-only thresholds every call,
// so the O(T) fit of the grid (65,536 thresholds: a few microseconds) is paid once instead of
// per batch, and small batches use the grid too. Writeable arrays are analysed per call.
// Only touched with the GIL held; never destroyed (no Python calls at process exit).
struct GridEntry {
  py::object owner;
  bool fits;
  BucketGrid grid;
};

bool known_grid(const py::array& thresholds, int64_t T, BucketGrid& grid) {
  // Only arrays owning their memory: a read-only view can change through its base.
  if (thresholds.writeable() || !thresholds.owndata() || T < 2) return false;
  static auto* cache = new std::vector<GridEntry>();
  for (const GridEntry& e : *cache) {
    if (e.owner.ptr() == thresholds.ptr()) {
      grid = e.grid;  // a copy: the kernel runs without the GIL, the cache may change
      return e.fits;
    }
  }
  if (cache->size() >= 64) cache->erase(cache->begin());  // oldest first
  GridEntry e{py::reinterpret_borrow<py::object>(thresholds), false, {}};
  e.fits = score_detail::make_grid(static_cast<const double*>(thresholds.data()), T,
                                   score_detail::isa_level_ref(), e.grid);
  cache->push_back(e);
  grid = e.grid;
  return e.fits;
}

py::tuple score_histogram_py(const py::array& y_true, const py::array& y_pred,
                             const py::object& sample_weight, const py::array& thresholds,
                             int64_t class_id, py::array out, const py::object& score_sums) {
  const auto a = score_histogram_args("score_histogram", y_true, y_pred, sample_weight,
                                      thresholds, class_id, out, score_sums, -1);
  if (a.N == 0) return result({});
  BucketGrid grid;
  const bool fits = known_grid(thresholds, a.T, grid);
  return run_kernel(a.N * a.L, [&] {
    return visit_score_histogram(a, [&](auto yt, auto yp, const auto& wp, auto* dst) {
      return score_histogram(yt, a.class_ids, yp, wp, a.thr, a.T, class_id, dst, a.M, a.sums,
                             fits ? &grid : nullptr);
    });
  });
}

}  // namespace

void register_score_histogram(py::module_& m) {
  m.def("score_histogram", &score_histogram_py,
        "score_histogram(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums)"
        " -> (code, row, col)\n\n"
        "Adds per-bucket negative/positive weights into out (2, T + 1, M) and weight * score\n"
        "sums into score_sums (T + 1, M) or None, all or nothing.\n"
        "See metricore._backends.protocol.Backend.score_histogram.",
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("thresholds").noconvert(), py::arg("class_id"), py::arg("out").noconvert(),
        py::arg("score_sums"));
  // Testing hooks: the vector stages run at the widest ISA level the CPU has (0 baseline,
  // 1 AVX2, 2 AVX-512); tests lower it to cover every level.
  m.def("_score_histogram_max_isa", &score_detail::max_isa_level);
  m.def("_set_score_histogram_isa", &score_detail::set_isa_level, py::arg("level"),
        "Sets the ISA level of score_histogram's stages (clamped); returns the previous one.");
}

}  // namespace metricore::bind
