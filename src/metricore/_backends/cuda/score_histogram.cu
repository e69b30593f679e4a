// score_histogram: per-bucket weight of positive and negative samples (and optionally the
// weighted score sums) for the curve family; the contract is
// metricore/_backends/protocol.py. Launch sequence (see cuda/__init__.py):
//   score_bins (score_bins.cuh): validate, and add each counted element to its bucket;
//   [reduce_partials_*: float sums: weighted, or with score sums]
//   commit_add: the label histograms into out (2, T + 1, M), then (if asked) the third
//               plane into score_sums (T + 1, M); both only if the batch and the metric's
//               error record are clean, so the pair is committed together or not at all.
#include "score_bins.cuh"

#if !defined(__CUDACC_RTC__)
// See threshold_counts.cu: what nvcc --ptx checks without a GPU.
using namespace metricore_cuda;
extern void* const metricore_ptx_check[] = {
    (void*)&score_bins<bool, double, NoWeight, true, true>,
    (void*)&score_bins<float, float, double, true, false>,
    (void*)&score_bins<long long, double, NoWeight, false, false>,
    (void*)&commit_add<u64, long long>,
    (void*)&commit_add<double, long long>,
    (void*)&commit_add<double, double>,
    (void*)&reduce_partials_seq<double>,
    (void*)&reduce_partials_tree<double>,
};
#endif
