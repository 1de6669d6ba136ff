// A process's Prometheus metrics, rendered in the text exposition format (0.0.4) that an
// HTTP /metrics endpoint serves. A family is declared once (name, help, label names, and
// for a histogram its bucket bounds); its series are made on first use. Label values may
// come from clients (collection names): they are escaped, never trusted to be clean.
// Debian 12 has no Prometheus client library for C++; this is the small part we need.
//
// Thread-safety: every method is safe from any thread; families live as long as Metrics.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace backup {

class Metrics {
 public:
  using Labels = std::vector<std::string>;  // values, in the family's label-name order

  class Family {
   public:
    void Add(const Labels& values, double by = 1);     // a counter
    void Set(const Labels& values, double value);      // a gauge
    void Observe(const Labels& values, double value);  // a histogram
    void Remove(const Labels& values);

    // Made by Metrics::Counter, Gauge and Histogram.
    Family(std::string name, std::string help, std::string type, std::vector<std::string> labels,
           std::vector<double> bounds)
        : name_(std::move(name)),
          help_(std::move(help)),
          type_(std::move(type)),
          labels_(std::move(labels)),
          bounds_(std::move(bounds)) {}

   private:
    friend class Metrics;
    struct Series {
      double value = 0;               // counter, gauge; histogram: sum
      std::vector<uint64_t> buckets;  // histogram: observations <= each bound
      uint64_t count = 0;             // histogram: observations
    };
    Series* Find(const Labels& values);  // under mu_; nullptr when the label count is wrong
    void Render(std::string& out) const;

    const std::string name_, help_, type_;
    const std::vector<std::string> labels_;
    const std::vector<double> bounds_;
    mutable std::mutex mu_;
    std::map<Labels, Series> series_;
  };

  Family& Counter(std::string name, std::string help, std::vector<std::string> labels);
  Family& Gauge(std::string name, std::string help, std::vector<std::string> labels);
  Family& Histogram(std::string name, std::string help, std::vector<std::string> labels,
                    std::vector<double> bounds);

  std::string Render() const;

 private:
  Family& Declare(std::string name, std::string help, std::string type,
                  std::vector<std::string> labels, std::vector<double> bounds);
  mutable std::mutex mu_;
  std::deque<Family> families_;  // a deque: references stay valid as it grows
};

}  // namespace backup
