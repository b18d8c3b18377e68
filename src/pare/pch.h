// Precompiled header: the heavy third-party headers every pare translation unit pulls in.
#pragma once
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
