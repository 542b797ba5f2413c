#include "api/metrics.h"

#include <sstream>

namespace escrowless::api {
namespace {

// Label values are route patterns and methods we chose, but escape them anyway.
std::string label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::observe_request(const std::string& route, const std::string& method, int status,
                              double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, method, status}];
  Histogram& h = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> value) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), std::move(value), "gauge", {}});
}

void Metrics::add_counter(std::string name, std::string help, std::function<double()> value) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), std::move(value), "counter", {}});
}

void Metrics::add_gauge(std::string name, std::string help, std::string label_name, std::string label_value,
                        std::function<double()> value) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), std::move(value), "gauge",
                     "{" + label_name + "=\"" + label(label_value) + "\"}"});
}

void Metrics::add_counter(std::string name, std::string help, std::string label_name, std::string label_value,
                          std::function<double()> value) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), std::move(value), "counter",
                     "{" + label_name + "=\"" + label(label_value) + "\"}"});
}

std::string Metrics::render() const {
  std::ostringstream out;
  std::vector<Gauge> gauges;
  {
    std::lock_guard lock(mutex_);
    out << "# HELP escrowless_http_requests_total HTTP requests by route, method and status.\n"
           "# TYPE escrowless_http_requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      const auto& [route, method, status] = key;
      out << "escrowless_http_requests_total{route=\"" << label(route) << "\",method=\""
          << label(method) << "\",status=\"" << status << "\"} " << count << "\n";
    }
    out << "# HELP escrowless_http_request_duration_seconds HTTP request latency by route.\n"
           "# TYPE escrowless_http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
      const std::string r = label(route);
      for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        out << "escrowless_http_request_duration_seconds_bucket{route=\"" << r << "\",le=\""
            << kBuckets[i] << "\"} " << h.counts[i] << "\n";
      }
      out << "escrowless_http_request_duration_seconds_bucket{route=\"" << r << "\",le=\"+Inf\"} "
          << h.count << "\n";
      out << "escrowless_http_request_duration_seconds_sum{route=\"" << r << "\"} " << h.sum << "\n";
      out << "escrowless_http_request_duration_seconds_count{route=\"" << r << "\"} " << h.count << "\n";
    }
    gauges = gauges_;
  }
  // Gauges may take locks of their own (the log, the session pool): read them outside ours.
  const std::string* described = nullptr;  // the name whose HELP and TYPE were written last
  for (const Gauge& gauge : gauges) {
    double value = 0;
    try {
      value = gauge.value();
    } catch (const std::exception&) {
      continue;  // a gauge that can't be read now (store unavailable) is left out, not faked
    }
    if (!described || *described != gauge.name) {
      out << "# HELP " << gauge.name << " " << gauge.help << "\n# TYPE " << gauge.name << " " << gauge.type << "\n";
      described = &gauge.name;
    }
    out << gauge.name << gauge.labels << " " << value << "\n";
  }
  return out.str();
}

}  // namespace escrowless::api
