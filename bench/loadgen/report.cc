#include "bench/loadgen/report.h"

#include <algorithm>
#include <cstdint>

namespace umcg_rpc::loadgen {
namespace {

using nlohmann::json;

// Ten equal-width bins from fastest to slowest, as ghz draws them; each
// log-linear bucket's count goes to the bin holding its midpoint.
json Histogram(const LatencyHistogram& h) {
  json bins = json::array();
  if (h.count() == 0) return bins;
  constexpr int kBins = 10;
  const double lo = static_cast<double>(h.min());
  const double hi = static_cast<double>(h.max());
  const double width = std::max((hi - lo) / kBins, 1.0);
  uint64_t counts[kBins] = {};
  for (const LatencyHistogram::Bucket& b : h.NonEmptyBuckets()) {
    const double mid = std::clamp(
        (static_cast<double>(b.lower) + static_cast<double>(b.upper)) / 2, lo,
        hi);
    const int bin = std::min(kBins - 1, static_cast<int>((mid - lo) / width));
    counts[bin] += b.count;
  }
  for (int i = 0; i < kBins; ++i) {
    bins.push_back({{"mark", (lo + width * (i + 1)) / 1e9},
                    {"count", counts[i]},
                    {"frequency", static_cast<double>(counts[i]) /
                                      static_cast<double>(h.count())}});
  }
  return bins;
}

json Distribution(const LatencyHistogram& h) {
  json out = json::array();
  if (h.count() == 0) return out;
  for (double p : kReportedPercentiles) {
    out.push_back({{"percentage", p}, {"latency", h.Percentile(p)}});
  }
  return out;
}

}  // namespace

json MakeReport(const std::string& name, const LoadOptions& options,
                const std::string& call, const LoadResult& result,
                absl::Time date) {
  const LatencyHistogram& h = result.all;
  const double window = absl::ToDoubleSeconds(result.window);
  json report = {
      {"name", name},
      {"endReason", result.end_reason},
      {"options",
       {{"call", call},
        {"host", options.target},
        {"rps", options.rate},
        {"loadMode", options.rate > 0 ? "open" : "closed"},
        {"arrival",
         options.arrival == ArrivalProcess::kPoisson ? "poisson" : "constant"},
        {"concurrency", options.concurrency},
        {"connections", options.connections},
        {"duration", absl::ToInt64Nanoseconds(options.duration)},
        {"warmup", absl::ToInt64Nanoseconds(options.warmup)},
        {"timeout", absl::ToInt64Nanoseconds(options.timeout)}}},
      {"date", absl::FormatTime(absl::RFC3339_sec, date, absl::UTCTimeZone())},
      {"count", h.count()},
      {"total", absl::ToInt64Nanoseconds(result.window)},
      {"average", static_cast<uint64_t>(h.mean())},
      {"fastest", h.min()},
      {"slowest", h.max()},
      {"rps", window > 0 ? static_cast<double>(h.count()) / window : 0.0},
      {"errorDistribution", result.errors},
      {"statusCodeDistribution", result.status_codes},
      {"latencyDistribution", Distribution(h)},
      {"histogram", Histogram(h)},
      // Not in ghz:
      {"okLatencyDistribution", Distribution(result.ok)},
      {"okRps",
       window > 0 ? static_cast<double>(result.ok.count()) / window : 0.0},
      {"lateSends", result.late_sends},
      {"finalSendLag", absl::ToInt64Nanoseconds(result.final_send_lag)},
      {"callsIncludingWarmup", result.calls_including_warmup},
  };
  return report;
}

}  // namespace umcg_rpc::loadgen
