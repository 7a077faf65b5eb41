// The subset of ankerl::unordered_dense that mediasoup's worker uses (map, set,
// hash), mapped onto the standard library. Same semantics for the worker's
// uses (lookup, insert, erase, iteration without ordering assumptions); the
// standard containers are somewhat slower, which the benchmarks measure.
#ifndef FOCI_ANKERL_UNORDERED_DENSE_SUBSTITUTE_H
#define FOCI_ANKERL_UNORDERED_DENSE_SUBSTITUTE_H

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl::unordered_dense
{
	template<class Key>
	struct hash : std::hash<Key>
	{
	};

	template<
	  class Key,
	  class T,
	  class Hash      = hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<std::pair<const Key, T>>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

	template<
	  class Key,
	  class Hash      = hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;
} // namespace ankerl::unordered_dense

#endif
