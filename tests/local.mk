# Tests.  Each area includes its own fragment.
include $(srcdir)/tests/overlay.mk
include $(srcdir)/tests/api.mk
include $(srcdir)/tests/cli.mk
include $(srcdir)/tests/shim.mk
include $(srcdir)/tests/sqlite.mk
include $(srcdir)/tests/stdio.mk
include $(srcdir)/tests/dbs.mk
include $(srcdir)/tests/tree.mk
include $(srcdir)/tests/fault.mk
include $(srcdir)/tests/pg.mk
include $(srcdir)/tests/kill.mk
include $(srcdir)/tests/copy.mk
include $(srcdir)/tests/install.mk
include $(srcdir)/tests/recipes.mk
