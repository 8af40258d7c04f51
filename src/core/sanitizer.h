// Whether this build runs under AddressSanitizer (GCC and clang spell it
// differently), for code that must behave differently there: e.g. memory
// that ASan's allocator should see.
#pragma once

namespace sable {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace sable
