// A tiny assertion helper for the C++ tests: counts failures, main() returns non-zero if any.
#pragma once
#include <cstdio>

inline int g_failures = 0;
inline int g_checks = 0;

#define EXPECT(cond)                                                              \
  do {                                                                           \
    ++g_checks;                                                                  \
    if (!(cond)) {                                                               \
      ++g_failures;                                                              \
      std::fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                            \
  } while (0)

inline int report(const char* name) {
  std::printf("%s: %d checks, %d failed\n", name, g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
