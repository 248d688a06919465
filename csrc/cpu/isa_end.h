// Closes the region isa_begin.h opened.
#if defined(LASSONET_ISA_BUILD)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
