# Bash completion for jetsnap, installed where bash-completion loads it on
# demand.  Tested by tests/recipes.sh.
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = docs/completion/jetsnap.bash

# bash-completion looks the file up by the command's name.
install-data-hook: install-jetsnap-completion
install-jetsnap-completion:
	cd $(DESTDIR)$(bashcompletiondir) && mv -f jetsnap.bash jetsnap
uninstall-local: uninstall-jetsnap-completion
uninstall-jetsnap-completion:
	rm -f $(DESTDIR)$(bashcompletiondir)/jetsnap
.PHONY: install-jetsnap-completion uninstall-jetsnap-completion
