/*
 * mt_writer — a multi-threaded writer whose files end up the same whatever
 * the interleaving, for tests/mt_determinism.sh.
 *
 *   mt_writer [--freezes N] [--threads N] [--ops N] DIR
 *
 * The writer threads of tests/stress.h, and nothing else: each thread
 * writes its own stripe of "shared" and a header every thread writes with
 * the same bytes, its own blocks of "blocks" (neighbouring threads share
 * every page) and its own O_APPEND file "append-T" (and once an
 * ftruncate), and reads back what it wrote.  A control thread freezes the
 * process N times for 200 ms, each after a share of the ops; a writer that
 * gets to freeze k's share first waits for it to begin.  Each freeze must
 * have ops made entirely inside it, or it tested nothing, and the files on
 * disk, read behind the shim's back, must not change between Freeze and
 * Thaw.
 */
#include <stdio.h>
#include <string.h>

#include "stress.h"

static struct stress_shared sh;

int main(int argc, char **argv)
{
	int i;

	stress = (struct stress){ .prog = "mt_writer", .nthreads = 4, .nops = 6000,
				  .freeze_lead = 1, .freeze_ms = 200, .sh = &sh };
	for (i = 1; i < argc - 1; i += 2)
		if (!stress_option(argv[i], argv[i + 1]))
			break;
	if (i != argc - 1) {
		fprintf(stderr, "usage: mt_writer [--freezes N] [--threads N] [--ops N] DIR\n");
		return 2;
	}
	stress.dir = argv[i];
	stress_create_files();
	if (stress_start())
		return 1;
	stress_join_writers();
	stress_finish();

	if (failed()) {
		fprintf(stderr, "mt_writer: FAIL: %s\n", sh.failure);
		return 1;
	}
	printf("mt_writer: %d threads x %d ops", stress.nthreads, stress.nops);
	for (i = 0; i < stress.nfreezes; i++)
		printf("%s%ld", i ? ", " : "; ops made while frozen: ", atomic_load(&stress.ops_frozen[i]));
	printf("\n");
	for (i = 0; i < stress.nfreezes; i++)
		if (atomic_load(&stress.ops_frozen[i]) == 0) {
			fprintf(stderr, "mt_writer: FAIL: no op was made entirely inside freeze %d: "
				"the writers did not run while frozen\n", i + 1);
			return 1;
		}
	return 0;
}
