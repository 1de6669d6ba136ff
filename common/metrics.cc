#include "common/metrics.h"

#include <charconv>

namespace backup {

namespace {

std::string Number(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

// Label values and help text: backslash, double quote (labels only) and newline escaped.
std::string Escaped(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string LabelSet(const std::vector<std::string>& names, const Metrics::Labels& values,
                     const std::string& le = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + Escaped(values[i], true) + "\"";
  }
  if (!le.empty()) out += std::string(out.empty() ? "" : ",") + "le=\"" + le + "\"";
  return out.empty() ? "" : "{" + out + "}";
}

}  // namespace

Metrics::Family::Series* Metrics::Family::Find(const Labels& values) {
  if (values.size() != labels_.size()) return nullptr;  // a caller's bug: recorded nowhere
  Series& s = series_[values];
  s.buckets.resize(bounds_.size());
  return &s;
}

void Metrics::Family::Add(const Labels& values, double by) {
  std::lock_guard lock(mu_);
  if (Series* s = Find(values)) s->value += by;
}

void Metrics::Family::Set(const Labels& values, double value) {
  std::lock_guard lock(mu_);
  if (Series* s = Find(values)) s->value = value;
}

void Metrics::Family::Observe(const Labels& values, double value) {
  std::lock_guard lock(mu_);
  Series* s = Find(values);
  if (s == nullptr) return;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) ++s->buckets[i];
  }
  s->value += value;
  ++s->count;
}

void Metrics::Family::Remove(const Labels& values) {
  std::lock_guard lock(mu_);
  series_.erase(values);
}

void Metrics::Family::Render(std::string& out) const {
  std::lock_guard lock(mu_);
  out += "# HELP " + name_ + " " + Escaped(help_, false) + "\n";
  out += "# TYPE " + name_ + " " + type_ + "\n";
  for (const auto& [values, s] : series_) {
    if (type_ != "histogram") {
      out += name_ + LabelSet(labels_, values) + " " + Number(s.value) + "\n";
      continue;
    }
    for (size_t i = 0; i < bounds_.size(); ++i) {
      out += name_ + "_bucket" + LabelSet(labels_, values, Number(bounds_[i])) + " " +
             std::to_string(s.buckets[i]) + "\n";
    }
    out += name_ + "_bucket" + LabelSet(labels_, values, "+Inf") + " " + std::to_string(s.count) +
           "\n";
    out += name_ + "_sum" + LabelSet(labels_, values) + " " + Number(s.value) + "\n";
    out += name_ + "_count" + LabelSet(labels_, values) + " " + std::to_string(s.count) + "\n";
  }
}

Metrics::Family& Metrics::Counter(std::string name, std::string help,
                                  std::vector<std::string> labels) {
  return Declare(std::move(name), std::move(help), "counter", std::move(labels), {});
}

Metrics::Family& Metrics::Gauge(std::string name, std::string help,
                                std::vector<std::string> labels) {
  return Declare(std::move(name), std::move(help), "gauge", std::move(labels), {});
}

Metrics::Family& Metrics::Histogram(std::string name, std::string help,
                                    std::vector<std::string> labels, std::vector<double> bounds) {
  return Declare(std::move(name), std::move(help), "histogram", std::move(labels),
                 std::move(bounds));
}

Metrics::Family& Metrics::Declare(std::string name, std::string help, std::string type,
                                  std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  return families_.emplace_back(std::move(name), std::move(help), std::move(type),
                                std::move(labels), std::move(bounds));
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const Family& f : families_) f.Render(out);
  return out;
}

}  // namespace backup
