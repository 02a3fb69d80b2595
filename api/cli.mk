# The jetsnap command-line tool (owner: CLI)
bin_PROGRAMS += jetsnap
jetsnap_SOURCES = api/cli.c api/cli.h api/cli_exec.c api/cli_session.c api/cli_status.c \
	api/cli_recover.c api/cli_copy.c api/cli_progress.c api/call.c shim/recover.c
# Where "make install" puts the shim: jetsnap exec and shim-path look there last.
jetsnap_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/shim -DJETSNAP_PKGLIBDIR='"$(pkglibdir)"'
jetsnap_CFLAGS = $(AM_CFLAGS) $(FFI_CFLAGS)
jetsnap_LDADD = libjetsnap.la $(FFI_LIBS)
