# Manual pages (owner: docs), written by hand in plain roff with the -man
# macros; dist_man_MANS installs them and ships them in the tarball.
dist_man_MANS = docs/man/jetsnap.1 docs/man/jetsnap.3 docs/man/jetsnap-shim.7

# libtool's .la files are of no use once installed: the shim is a module
# loaded by LD_PRELOAD, never linked, and clients link libjetsnap through
# pkg-config (jetsnap.pc), which needs no .la and keeps libtool from
# dragging our dependencies into theirs.  Debian removes them too.
install-exec-hook:
	rm -f '$(DESTDIR)$(libdir)/libjetsnap.la' \
	  '$(DESTDIR)$(pkglibdir)/libjetsnap-shim.la'

# Without the .la files "libtool --mode=uninstall" cannot tell which files
# made each library, so remove them here (distcheck checks that nothing is
# left behind).
uninstall-hook:
	rm -f '$(DESTDIR)$(libdir)'/libjetsnap.so \
	  '$(DESTDIR)$(libdir)'/libjetsnap.so.* \
	  '$(DESTDIR)$(pkglibdir)/libjetsnap-shim.so'
