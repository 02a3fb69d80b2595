# The recipes in docs/recipes/, run as documented; bash completion; syslog events.
TESTS += tests/recipes.sh
dist_check_SCRIPTS += tests/recipes.sh
