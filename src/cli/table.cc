#include "cli/table.h"

#include <algorithm>
#include <climits>

#include "common/strings.h"

namespace iter8::cli {
namespace {

constexpr int kMaxCellWidth = 30;
constexpr long long kOverflowPenalty = 100000;

// Display width: one column per code point (the tables hold ASCII names and numbers; wide
// characters are not expected in Kubernetes names).
int Width(const std::string& s) {
  int w = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++w;
  }
  return w;
}

// tablewriter's test for right alignment: ^-?(?:\d{1,3}(?:,\d{3})*|\d+)(\.\d+)?$
bool IsNumber(const std::string& s) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  size_t start = i;
  while (i < s.size() && digit(s[i])) ++i;
  size_t lead = i - start;
  if (lead == 0) return false;
  if (lead <= 3) {  // optional ",ddd" groups
    while (i + 3 < s.size() + 0 && s[i] == ',' && digit(s[i + 1]) && digit(s[i + 2]) &&
           digit(s[i + 3]) && (i + 4 == s.size() || !digit(s[i + 4]))) {
      i += 4;
    }
  }
  if (i < s.size() && s[i] == '.') {
    size_t f = ++i;
    while (i < s.size() && digit(s[i])) ++i;
    if (i == f) return false;
  }
  return i == s.size();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\n\r");
  return s.substr(b, e - b + 1);
}

// Header text: '_' becomes a space, '.' too unless it sits between digits/spaces, upper case.
std::string HeaderTitle(const std::string& s) {
  std::string r = s;
  auto num_or_space = [](char c) { return (c >= '0' && c <= '9') || c == ' '; };
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '_') {
      r[i] = ' ';
    } else if (r[i] == '.') {
      if ((i != 0 && !num_or_space(r[i - 1])) || (i + 1 != r.size() && !num_or_space(r[i + 1]))) {
        r[i] = ' ';
      }
    }
  }
  std::string t = Trim(r);
  if (t.empty() && !s.empty()) t = " ";
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::toupper(c); });
  return t;
}

std::string Center(const std::string& s, int width) {
  int gap = width - Width(s);
  if (gap <= 0) return s;
  int left = gap / 2;
  return std::string(left, ' ') + s + std::string(gap - left, ' ');
}

std::string PadRight(const std::string& s, int width) {
  int gap = width - Width(s);
  return gap > 0 ? s + std::string(gap, ' ') : s;
}

std::string PadLeft(const std::string& s, int width) {
  int gap = width - Width(s);
  return gap > 0 ? std::string(gap, ' ') + s : s;
}

// Lines of one cell: split on newlines, each paragraph wrapped when wider than the limit.
std::vector<std::string> CellLines(const std::string& cell, int* width) {
  std::vector<std::string> raw = StrSplit(cell, '\n');
  int max_width = 0;
  for (const auto& l : raw) max_width = std::max(max_width, Width(l));
  int limit = std::min(max_width, kMaxCellWidth);
  std::vector<std::string> out;
  int new_width = limit;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (i > 0) out.push_back(" ");
    for (auto& line : WrapWords(raw[i], limit)) {
      new_width = std::max(new_width, Width(line));
      out.push_back(std::move(line));
    }
  }
  *width = new_width;
  return out;
}

}  // namespace

std::vector<std::string> WrapWords(const std::string& text, int limit) {
  std::string flat = text;
  std::replace(flat.begin(), flat.end(), '\n', ' ');
  std::vector<std::string> words = StrSplit(flat, ' ');
  for (const auto& w : words) limit = std::max(limit, Width(w));
  const int n = static_cast<int>(words.size());
  // length[i][j]: width of words i..j joined by single spaces.
  std::vector<std::vector<long long>> length(n, std::vector<long long>(n, 0));
  for (int i = 0; i < n; ++i) {
    length[i][i] = Width(words[i]);
    for (int j = i + 1; j < n; ++j) length[i][j] = length[i][j - 1] + 1 + Width(words[j]);
  }
  std::vector<int> next_break(n, n);
  std::vector<long long> cost(n, INT_MAX);
  for (int i = n - 1; i >= 0; --i) {
    if (length[i][n - 1] <= limit) {
      cost[i] = 0;
      next_break[i] = n;
      continue;
    }
    for (int j = i + 1; j < n; ++j) {
      long long gap = limit - length[i][j - 1];
      long long c = gap * gap + cost[j];
      if (length[i][j - 1] > limit) c += kOverflowPenalty;
      if (c < cost[i]) {
        cost[i] = c;
        next_break[i] = j;
      }
    }
  }
  std::vector<std::string> lines;
  for (int i = 0; i < n; i = next_break[i]) {
    std::vector<std::string> part(words.begin() + i, words.begin() + next_break[i]);
    lines.push_back(StrJoin(part, " "));
  }
  return lines;
}

std::string Table::Render() const {
  const size_t cols = header_.size();
  std::vector<int> widths(cols, 0);
  auto parse = [&](const std::vector<std::string>& row) {
    std::vector<std::vector<std::string>> cells(cols);
    for (size_t c = 0; c < cols; ++c) {
      int w = 0;
      cells[c] = CellLines(c < row.size() ? row[c] : "", &w);
      widths[c] = std::max(widths[c], w);
    }
    return cells;
  };
  std::vector<std::vector<std::string>> header = parse(header_);
  std::vector<std::vector<std::vector<std::string>>> rows;
  for (const auto& r : rows_) rows.push_back(parse(r));

  std::string line = "+";
  for (int w : widths) line += std::string(w + 2, '-') + "+";
  line += "\n";

  std::string out = line;
  auto emit = [&](const std::vector<std::vector<std::string>>& cells, bool is_header) {
    size_t height = 0;
    for (const auto& c : cells) height = std::max(height, c.size());
    for (size_t h = 0; h < height; ++h) {
      out += "|";
      for (size_t c = 0; c < cols; ++c) {
        std::string s = h < cells[c].size() ? cells[c][h] : "";
        if (is_header) {
          s = Center(HeaderTitle(s), widths[c]);
        } else if (IsNumber(Trim(s))) {
          s = PadLeft(s, widths[c]);
        } else {
          s = PadRight(s, widths[c]);
        }
        out += " " + s + " |";
      }
      out += "\n";
    }
    out += line;
  };
  emit(header, true);
  for (const auto& r : rows) emit(r, false);
  return out;
}

}  // namespace iter8::cli
