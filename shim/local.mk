# The preload shim: libjetsnap-shim.so, an unversioned module installed in
# $(pkglibdir).  It links nothing but libc and exports only the wrappers.
pkglib_LTLIBRARIES += libjetsnap-shim.la
libjetsnap_shim_la_SOURCES = \
	shim/config.c shim/control.c shim/engine.c shim/gate.c \
	shim/holdlog.c shim/instance.c shim/log.c shim/recover.c shim/overlay.c shim/real.c shim/stdio.c shim/wrappers.c
noinst_HEADERS += shim/funcs.h shim/holdlog.h shim/instance.h shim/recover.h shim/overlay.h shim/shim.h
# No _FILE_OFFSET_BITS: off_t and off64_t must stay distinct (funcs.h).
# No fortify: the shim defines read/open themselves.
libjetsnap_shim_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -U_FORTIFY_SOURCE -pthread
libjetsnap_shim_la_LDFLAGS = -module -avoid-version -shared -no-undefined \
	-Wl,--version-script=shim/shim.map
libjetsnap_shim_la_LIBADD = $(DL_PTHREAD_LIBS)
EXTRA_libjetsnap_shim_la_DEPENDENCIES = shim/shim.map
CLEANFILES += shim/shim.map

# The export list comes from the table: nothing else may be exported.
shim/shim.map: $(srcdir)/shim/funcs.h
	$(AM_V_GEN)mkdir -p shim && { echo '{ global:'; \
	  sed -n 's/^[[:space:]]*X([^,]*, *\([A-Za-z_0-9]*\),.*/	\1;/p' $(srcdir)/shim/funcs.h; \
	  echo 'local: *; };'; } > $@
