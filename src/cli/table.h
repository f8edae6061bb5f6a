// File: cli/table.h
//
// ASCII tables exactly as iter8ctl printed them (olekukonko/tablewriter v0.0.5 with its default
// settings and row lines on): `+-|` borders, one space of padding, upper-cased centred headers,
// cells word-wrapped to 30 columns (or the longest word) with minimum raggedness, numbers
// right-aligned and everything else left-aligned, and a separator after every row.
//
// Pure; a Table is a value owned by its caller and not shared between threads.
#pragma once

#include <string>
#include <vector>

namespace iter8::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // The rendered table; every line ends with '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Splits `text` into lines of at most `limit` columns (raised to the longest word), choosing
// breaks that minimise the sum of squared trailing gaps. Exposed for tests.
std::vector<std::string> WrapWords(const std::string& text, int limit);

}  // namespace iter8::cli
