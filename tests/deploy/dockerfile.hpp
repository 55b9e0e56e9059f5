#pragma once
// The runtime stage of one of deploy/docker/*.Dockerfile, read the way Docker reads the instructions these files
// use (no line continuations inside them): FROM, COPY, ENV, USER, EXPOSE, ENTRYPOINT (exec form), RUN.
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace azwi::deploytest {

struct Dockerfile {
  std::string base;                                      // FROM of the last stage
  std::vector<std::pair<std::string, std::string>> copies_from_build;  // COPY --from=build SRC DST
  std::map<std::string, std::string> env;
  std::string user;
  std::vector<int> exposed;
  std::vector<std::string> entrypoint;
  std::string run;  // the RUN instructions of the last stage, continuation lines joined
};

inline Dockerfile read_dockerfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string text, line;
  // Join continuation lines first.
  std::vector<std::string> lines;
  std::string pending;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    lines.push_back(pending + line);
    pending.clear();
  }
  Dockerfile d;
  for (const auto& l : lines) {
    std::istringstream ls(l);
    std::string word;
    ls >> word;
    if (word == "FROM") {
      d = Dockerfile{};
      ls >> d.base;
    } else if (word == "COPY") {
      std::string a, b, c;
      ls >> a >> b >> c;
      if (a == "--from=build") d.copies_from_build.emplace_back(b, c);
    } else if (word == "ENV") {
      std::string kv;
      while (ls >> kv) {
        auto eq = kv.find('=');
        if (eq != std::string::npos) d.env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    } else if (word == "USER") {
      ls >> d.user;
    } else if (word == "EXPOSE") {
      int p;
      while (ls >> p) d.exposed.push_back(p);
    } else if (word == "ENTRYPOINT") {
      std::string rest;
      std::getline(ls, rest);
      // ["a", "b"]
      std::string cur;
      bool quoted = false;
      for (char ch : rest) {
        if (ch == '"') {
          if (quoted) d.entrypoint.push_back(cur);
          cur.clear();
          quoted = !quoted;
        } else if (quoted) {
          cur += ch;
        }
      }
    } else if (word == "RUN") {
      std::string rest;
      std::getline(ls, rest);
      d.run += rest + "\n";
    }
  }
  return d;
}

}  // namespace azwi::deploytest
