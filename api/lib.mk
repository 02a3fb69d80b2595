# Control library: libjetsnap.so, jetsnap.h, jetsnap.pc (owner: api library)
lib_LTLIBRARIES += libjetsnap.la
libjetsnap_la_SOURCES = \
	api/libjetsnap.c \
	api/session.c \
	api/client.c \
	api/runtime.c \
	api/libjetsnap-int.h
# Hidden by default: libjetsnap-int.h marks exactly jetsnap.h's functions visible.
libjetsnap_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
libjetsnap_la_LDFLAGS = -version-info 0:0:0 -no-undefined
include_HEADERS += api/jetsnap.h
noinst_HEADERS += api/protocol.h
pkgconfig_DATA += api/jetsnap.pc
EXTRA_DIST += api/jetsnap.pc.in
