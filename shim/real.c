/*
 * Resolution of the real functions behind every wrapper, from the table.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shim.h"

/*
 * A wrapper can run before our constructor (another library's constructor
 * doing I/O), so every pointer also resolves on first use.  Stores are
 * atomic in effect: a pointer-sized aligned store, and every thread computes
 * the same value.
 */
#define JS_DEFINE_REAL(ret, name, params, class) \
	js_##name##_fn *js_real_##name; \
	js_##name##_fn *js_resolve_##name(void) \
	{ \
		js_##name##_fn *fn = (js_##name##_fn *)dlsym(RTLD_NEXT, #name); \
		if (!fn) /* a compatibility-only symbol has no default version */ \
			fn = (js_##name##_fn *)dlvsym(RTLD_NEXT, #name, "GLIBC_2.2.5"); \
		__atomic_store_n(&js_real_##name, fn, __ATOMIC_RELEASE); \
		return fn; \
	}
JS_FUNCS(JS_DEFINE_REAL)
#undef JS_DEFINE_REAL

void js_resolve_all(void)
{
#define JS_RESOLVE(ret, name, params, class) js_resolve_##name();
	JS_FUNCS(JS_RESOLVE)
#undef JS_RESOLVE
}
