// Prometheus text-format metrics: requests by route and status, a latency histogram per route,
// and gauges the service sets (log size, HSM operations). Route names are the route patterns,
// never raw paths, so the number of series stays bounded whatever clients send.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace escrowless::api {

class Metrics {
 public:
  void observe_request(const std::string& route, const std::string& method, int status, double seconds);

  // Values read when /metrics is served: name, help text, and a function giving the value.
  // A counter only ever grows (its name ends in _total); a gauge may go up and down.
  void add_gauge(std::string name, std::string help, std::function<double()> value);
  void add_counter(std::string name, std::string help, std::function<double()> value);
  // One series of a labelled metric: `labels` as Prometheus writes them (`witness="w1"`, values
  // escaped here). Series of one name share its HELP and TYPE lines; add them one after another.
  void add_gauge(std::string name, std::string help, std::string label_name, std::string label_value,
                 std::function<double()> value);
  void add_counter(std::string name, std::string help, std::string label_name, std::string label_value,
                   std::function<double()> value);

  std::string render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct Gauge {
    std::string name, help;
    std::function<double()> value;
    const char* type;
    std::string labels;  // "{name=\"value\"}" or empty
  };

  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::vector<Gauge> gauges_;
};

}  // namespace escrowless::api
