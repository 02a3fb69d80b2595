/*
 * call.c — "jetsnap call FUNCTION ARG...": calls any entry point of
 * jetsnap.h by name, through libffi, with arguments typed on the command
 * line, and prints the JET_ERR and every output.  It lets shell scripts
 * drive the API step by step, wrong arguments included.
 *
 * One table (CALL_TABLE) describes every entry point once.  It is expanded
 * twice: into compile-time checks that each row matches the prototype in
 * jetsnap.h, and into the descriptors the bridge reads at run time.
 */
#include <errno.h>
#include <ffi.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * FN(function, return kind, (P(kind, name), ...)).  A name starting with
 * 'p' is an out-pointer: its output prints without the 'p' ("snapId=").
 */
#define CALL_TABLE(FN, P) \
	FN(JetOSSnapshotPrepare, ERR, (P(PSNAPID, psnapId), P(GRBIT, grbit))) \
	FN(JetOSSnapshotPrepareInstance, ERR, \
	   (P(SNAPID, snapId), P(INSTANCE, instance), P(GRBIT, grbit))) \
	FN(JetOSSnapshotFreeze, ERR, (P(SNAPID, snapId), P(PULONG, pcInstanceInfo), \
				      P(PPINFO, paInstanceInfo), P(GRBIT, grbit))) \
	FN(JetOSSnapshotGetFreezeInfo, ERR, (P(SNAPID, snapId), P(PULONG, pcInstanceInfo), \
					     P(PPINFO, paInstanceInfo), P(GRBIT, grbit))) \
	FN(JetOSSnapshotThaw, ERR, (P(SNAPID, snapId), P(GRBIT, grbit))) \
	FN(JetOSSnapshotAbort, ERR, (P(SNAPID, snapId), P(GRBIT, grbit))) \
	FN(JetOSSnapshotEnd, ERR, (P(SNAPID, snapId), P(GRBIT, grbit))) \
	FN(JetOSSnapshotTruncateLog, ERR, (P(SNAPID, snapId), P(GRBIT, grbit))) \
	FN(JetOSSnapshotTruncateLogInstance, ERR, \
	   (P(SNAPID, snapId), P(INSTANCE, instance), P(GRBIT, grbit))) \
	FN(JetGetInstanceInfo, ERR, (P(PULONG, pcInstanceInfo), P(PPINFO, paInstanceInfo))) \
	FN(JetFreeBuffer, ERR, (P(FREEBUF, pbBuf))) \
	FN(JetSetSystemParameter, ERR, (P(PINSTANCE, pinstance), P(SESID, sesid), \
					P(ULONG, paramid), P(APIPTR, lParam), P(CSTR, szParam))) \
	FN(JetGetSystemParameter, ERR, (P(INSTANCE, instance), P(SESID, sesid), P(ULONG, paramid), \
					P(PAPIPTR, plParam), P(STRBUF, szParam), P(ULONG, cbMax))) \
	FN(JetsnapErrorName, STR, (P(ERR, err))) \
	FN(JetsnapLastReason, STR, (P(VOID, ))) \
	FN(JetsnapListInstances, ERR, (P(PULONG, pcInstances), P(PPSTATUS, paInstances)))

/* The C type of each kind, for the checks against jetsnap.h. */
#define CTYPE_VOID	void
#define CTYPE_ERR	JET_ERR
#define CTYPE_GRBIT	JET_GRBIT
#define CTYPE_ULONG	unsigned long
#define CTYPE_SNAPID	JET_OSSNAPID
#define CTYPE_INSTANCE	JET_INSTANCE
#define CTYPE_SESID	JET_SESID
#define CTYPE_APIPTR	JET_API_PTR
#define CTYPE_PSNAPID	JET_OSSNAPID *
#define CTYPE_PINSTANCE	JET_INSTANCE *
#define CTYPE_PULONG	unsigned long *
#define CTYPE_PAPIPTR	JET_API_PTR *
#define CTYPE_PPINFO	JET_INSTANCE_INFO **
#define CTYPE_PPSTATUS	JETSNAP_INSTANCE_STATUS **
#define CTYPE_CSTR	const char *
#define CTYPE_STRBUF	char *
#define CTYPE_FREEBUF	char *
#define RTYPE_ERR	JET_ERR
#define RTYPE_STR	const char *

#define PARAM_CTYPE(kind, name) CTYPE_##kind
#define CHECK_SIGNATURE(fn, ret, params) \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&fn), RTYPE_##ret (*) params), \
		       "the CALL_TABLE row of " #fn " does not match jetsnap.h");
CALL_TABLE(CHECK_SIGNATURE, PARAM_CTYPE)

/* Every integer the API passes is 32 or 64 bits wide (SPEC: LP64 Linux). */
_Static_assert(sizeof(JET_API_PTR) == 8 && sizeof(unsigned long) == 8, "jetsnap call needs LP64");

enum kind {
	K_VOID, K_ERR, K_GRBIT, K_ULONG, K_SNAPID, K_INSTANCE, K_SESID, K_APIPTR,
	K_PSNAPID, K_PINSTANCE, K_PULONG, K_PAPIPTR, K_PPINFO, K_PPSTATUS,
	K_CSTR, K_STRBUF, K_FREEBUF,
};

/* How an argument of a kind is written, passed and printed. */
enum shape {
	SH_NONE,	/* void */
	SH_INT,		/* an integer: u:, i:, x:, inst: */
	SH_PINT,	/* a pointer to an integer: null, out, or an initial value */
	SH_PPINFO,	/* JET_INSTANCE_INFO **: null or out */
	SH_PPSTATUS,	/* JETSNAP_INSTANCE_STATUS **: null or out */
	SH_CSTR,	/* const char *: null or s:TEXT */
	SH_STRBUF,	/* char * buffer sized by the next argument: null or out */
	SH_NULLPTR,	/* a pointer only the library may allocate: null */
};

static const struct kind_info {
	const char *ctype;
	enum shape shape;
	unsigned bits;		/* of the integer passed or pointed to */
	bool is_signed;
	ffi_type *ffi;
} kinds[] = {
	[K_VOID]	= { "void", SH_NONE, 0, false, &ffi_type_void },
	[K_ERR]		= { "JET_ERR", SH_INT, 32, true, &ffi_type_sint32 },
	[K_GRBIT]	= { "JET_GRBIT", SH_INT, 32, false, &ffi_type_uint32 },
	[K_ULONG]	= { "unsigned long", SH_INT, 64, false, &ffi_type_uint64 },
	[K_SNAPID]	= { "JET_OSSNAPID", SH_INT, 64, false, &ffi_type_uint64 },
	[K_INSTANCE]	= { "JET_INSTANCE", SH_INT, 64, false, &ffi_type_uint64 },
	[K_SESID]	= { "JET_SESID", SH_INT, 64, false, &ffi_type_uint64 },
	[K_APIPTR]	= { "JET_API_PTR", SH_INT, 64, false, &ffi_type_uint64 },
	[K_PSNAPID]	= { "JET_OSSNAPID *", SH_PINT, 64, false, &ffi_type_pointer },
	[K_PINSTANCE]	= { "JET_INSTANCE *", SH_PINT, 64, false, &ffi_type_pointer },
	[K_PULONG]	= { "unsigned long *", SH_PINT, 64, false, &ffi_type_pointer },
	[K_PAPIPTR]	= { "JET_API_PTR *", SH_PINT, 64, false, &ffi_type_pointer },
	[K_PPINFO]	= { "JET_INSTANCE_INFO **", SH_PPINFO, 0, false, &ffi_type_pointer },
	[K_PPSTATUS]	= { "JETSNAP_INSTANCE_STATUS **", SH_PPSTATUS, 0, false, &ffi_type_pointer },
	[K_CSTR]	= { "const char *", SH_CSTR, 0, false, &ffi_type_pointer },
	[K_STRBUF]	= { "char *", SH_STRBUF, 0, false, &ffi_type_pointer },
	[K_FREEBUF]	= { "char *", SH_NULLPTR, 0, false, &ffi_type_pointer },
};

enum ret { RET_ERR, RET_STR };

struct param {
	enum kind kind;
	const char *name;
};

struct function {
	const char *name;
	void (*fn)(void);
	enum ret ret;
	const struct param *params;
	size_t nparams;		/* 1 for (void): see function_arity() */
};

#define PARAM_DESC(kind, name) { K_##kind, #name }
#define BRACES(...) { __VA_ARGS__ }
#define DESCRIBE(fn, ret, params) \
	{ #fn, FFI_FN(fn), RET_##ret, (const struct param[]) BRACES params, \
	  sizeof((const struct param[]) BRACES params) / sizeof(struct param) },

static const struct function functions[] = { CALL_TABLE(DESCRIBE, PARAM_DESC) };

#define NFUNCTIONS (sizeof(functions) / sizeof(functions[0]))

/* Out buffers (szParam) are sized by the caller's cbMax; keep that sane. */
#define STRBUF_MAX (1u << 20)
#define MAX_PARAMS 8

static size_t function_arity(const struct function *f)
{
	return f->params[0].kind == K_VOID ? 0 : f->nparams;
}

/* One argument: the value libffi passes, and what a pointer argument points to. */
struct arg {
	bool is_null;
	union {
		uint32_t u32;
		uint64_t u64;
		int32_t i32;
		void *ptr;
	} value;
	union {
		uint64_t u64;
		JET_INSTANCE_INFO *info;
		JETSNAP_INSTANCE_STATUS *status;
	} target;
	char *buf;		/* SH_STRBUF */
	size_t bufsize;
};

static const struct cli_command *self;

static void print_signature(FILE *out, const struct function *f)
{
	fprintf(out, "%s%s(", f->ret == RET_ERR ? "JET_ERR " : "const char *", f->name);
	if (!function_arity(f))
		fputs("void", out);
	for (size_t i = 0; i < function_arity(f); i++)
		fprintf(out, "%s%s%s%s", i ? ", " : "", kinds[f->params[i].kind].ctype,
			kinds[f->params[i].kind].shape == SH_INT ? " " : "", f->params[i].name);
	fputs(")", out);
}

static int print_help(void)
{
	printf("Usage: jetsnap call FUNCTION [ARG]...\n"
	       "Calls a jetsnap.h entry point with typed arguments and prints its JET_ERR\n"
	       "(\"JET_errSuccess (0)\") on the first line, then each output as name=value.\n"
	       "Exits 0 if it returned JET_errSuccess, 1 otherwise, 2 on a usage error.\n"
	       "\n"
	       "Arguments, one per parameter:\n"
	       "  u:N     unsigned decimal     i:N     signed decimal (i:-1 is all ones)\n"
	       "  x:N     hexadecimal (x:0x8)  inst:NAME  the handle of a running instance\n"
	       "  s:TEXT  a string             null    a NULL pointer\n"
	       "  out     an out-pointer of the parameter's type (initially zero); an\n"
	       "          integer form instead gives it that initial value\n"
	       "\n"
	       "Outputs: snapId=ID, cInstanceInfo=N, instance[I].id=, instance[I].name=,\n"
	       "instance[I].database[J]=PATH, lParam=, szParam=, and reason=TEXT when the\n"
	       "call gave one.  Arrays are freed with JetFreeBuffer after printing.\n"
	       "\n"
	       "Functions:\n");
	for (size_t i = 0; i < NFUNCTIONS; i++) {
		fputs("  ", stdout);
		print_signature(stdout, &functions[i]);
		putchar('\n');
	}
	printf("\nExample: id=$(jetsnap call JetOSSnapshotPrepare out x:0x4 | sed -n 's/^snapId=//p')\n"
	       "         jetsnap call JetOSSnapshotFreeze u:$id out out u:0\n");
	return CLI_OK;
}

static const struct function *find_function(const char *name)
{
	for (size_t i = 0; i < NFUNCTIONS; i++)
		if (!strcmp(functions[i].name, name))
			return &functions[i];
	return NULL;
}

/* Parses the integer forms into v, checked against bits; a usage error otherwise. */
static int parse_integer(const struct param *p, const char *text, uint64_t *v)
{
	unsigned bits = kinds[p->kind].bits;
	uint64_t umax = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
	int64_t smin = bits == 64 ? INT64_MIN : -(INT64_C(1) << (bits - 1));
	const char *digits = strchr(text, ':') + 1;
	char *end;

	errno = 0;
	if (!strncmp(text, "i:", 2)) {
		long long s = strtoll(digits, &end, 10);

		if (errno || end == digits || *end || s < smin || (s > 0 && (uint64_t)s > umax))
			goto bad;
		/* Two's complement, so i:-1 is every bit of the parameter set. */
		*v = (uint64_t)s & umax;
		return CLI_OK;
	}
	if (*digits == '-' || *digits == '+' || *digits == ' ')
		goto bad;
	*v = strtoull(digits, &end, text[0] == 'x' ? 16 : 10);
	if (errno || end == digits || *end || *v > umax)
		goto bad;
	return CLI_OK;
bad:
	return cli_usage_error(self, "'%s' for %s %s is not a %u-bit %s", text,
			       kinds[p->kind].ctype, p->name, bits,
			       text[0] == 'i' ? "signed integer" : text[0] == 'x' ?
			       "hexadecimal number" : "unsigned integer");
}

/* inst:NAME → the handle of the one running instance so named. */
static int parse_instance(const char *name, uint64_t *v)
{
	JET_INSTANCE *handles;
	size_t n;
	char *names[] = { (char *)name };
	int rc = cli_resolve_instances(self, names, 1, &handles, &n);

	if (rc)
		return rc;
	if (n > 1)
		rc = cli_fail(self, "%zu running instances are named '%s': use the pid "
			      "('jetsnap list' shows it) instead", n, name);
	else
		*v = handles[0];
	free(handles);
	return rc;
}

static bool is_integer_form(const char *text)
{
	return !strncmp(text, "u:", 2) || !strncmp(text, "i:", 2) || !strncmp(text, "x:", 2) ||
	       !strncmp(text, "inst:", 5);
}

static int parse_integer_form(const struct param *p, const char *text, uint64_t *v)
{
	return !strncmp(text, "inst:", 5) ? parse_instance(text + 5, v) : parse_integer(p, text, v);
}

static int wrong_form(const struct param *p, const char *text, const char *forms)
{
	return cli_usage_error(self, "'%s' does not fit %s %s: write %s", text,
			       kinds[p->kind].ctype, p->name, forms);
}

/* Stores an integer of the parameter's width where libffi (or the callee) reads it. */
static void store_integer(const struct kind_info *k, uint64_t v, void *to)
{
	if (k->bits == 32 && k->is_signed)
		*(int32_t *)to = (int32_t)(uint32_t)v;
	else if (k->bits == 32)
		*(uint32_t *)to = (uint32_t)v;
	else
		*(uint64_t *)to = v;
}

static int parse_arg(const struct param *p, const char *text, struct arg *a)
{
	const struct kind_info *k = &kinds[p->kind];
	uint64_t v = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	if (k->shape != SH_INT && !strcmp(text, "null")) {
		a->is_null = true;
		a->value.ptr = NULL;
		return CLI_OK;
	}
	switch (k->shape) {
	case SH_INT:
		if (!is_integer_form(text))
			return wrong_form(p, text, "u:N, i:N, x:N or inst:NAME");
		rc = parse_integer_form(p, text, &v);
		if (!rc)
			store_integer(k, v, &a->value);
		return rc;
	case SH_PINT:
		if (strcmp(text, "out")) {
			if (!is_integer_form(text))
				return wrong_form(p, text, "out, null, or an initial value u:N, i:N, x:N");
			rc = parse_integer_form(p, text, &v);
			if (rc)
				return rc;
		}
		store_integer(k, v, &a->target);
		a->value.ptr = &a->target;
		return CLI_OK;
	case SH_PPINFO:
	case SH_PPSTATUS:
		if (strcmp(text, "out"))
			return wrong_form(p, text, "out or null");
		a->value.ptr = &a->target;
		return CLI_OK;
	case SH_CSTR:
		if (strncmp(text, "s:", 2))
			return wrong_form(p, text, "s:TEXT or null");
		a->value.ptr = (void *)(text + 2);
		return CLI_OK;
	case SH_STRBUF:
		/* Allocated once the size (the next argument) is known. */
		if (strcmp(text, "out"))
			return wrong_form(p, text, "out or null");
		return CLI_OK;
	case SH_NULLPTR:
		return wrong_form(p, text, "null (only buffers the library returned may be freed)");
	case SH_NONE:
		break;
	}
	return wrong_form(p, text, "nothing");
}

/* A char * out buffer gets as many bytes as the next (cbMax) argument says. */
static int allocate_buffers(const struct function *f, struct arg *args)
{
	for (size_t i = 0; i < function_arity(f); i++) {
		if (kinds[f->params[i].kind].shape != SH_STRBUF || args[i].is_null)
			continue;
		args[i].bufsize = i + 1 < function_arity(f) ? args[i + 1].value.u64 : 0;
		if (args[i].bufsize > STRBUF_MAX)
			return cli_usage_error(self, "%s of %zu bytes is more than jetsnap call "
					       "allocates (%u)", f->params[i].name,
					       args[i].bufsize, STRBUF_MAX);
		/* One spare NUL, so that a callee that fills it all still prints. */
		args[i].buf = calloc(1, args[i].bufsize + 1);
		if (!args[i].buf)
			return cli_fail(self, "out of memory");
		args[i].value.ptr = args[i].buf;
	}
	return CLI_OK;
}

static const char *output_name(const struct param *p)
{
	return p->name[0] == 'p' ? p->name + 1 : p->name;
}

static void print_instance_info(const JET_INSTANCE_INFO *a, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		printf("instance[%lu].id=%" PRIuPTR "\n", i, a[i].hInstanceId);
		printf("instance[%lu].name=%s\n", i, a[i].szInstanceName ? a[i].szInstanceName : "");
		printf("instance[%lu].cDatabases=%" PRIuPTR "\n", i, a[i].cDatabases);
		for (JET_API_PTR j = 0; j < a[i].cDatabases; j++)
			printf("instance[%lu].database[%" PRIuPTR "]=%s\n", i, j,
			       a[i].szDatabaseFileName[j]);
	}
}

static void print_instance_status(const JETSNAP_INSTANCE_STATUS *a, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		printf("instance[%lu].id=%" PRIuPTR "\n", i, a[i].hInstanceId);
		printf("instance[%lu].name=%.*s\n", i, (int)sizeof(a[i].szInstanceName),
		       a[i].szInstanceName);
		printf("instance[%lu].state=%.*s\n", i, (int)sizeof(a[i].szState), a[i].szState);
		printf("instance[%lu].snapId=%" PRIuPTR "\n", i, a[i].snapId);
		printf("instance[%lu].cbHeld=%" PRIu64 "\n", i, a[i].cbHeld);
		printf("instance[%lu].cHeldWrites=%" PRIu64 "\n", i, a[i].cHeldWrites);
		printf("instance[%lu].cDrainedWrites=%" PRIu64 "\n", i, a[i].cDrainedWrites);
		printf("instance[%lu].usFrozenFor=%" PRIu64 "\n", i, a[i].usFrozenFor);
		printf("instance[%lu].cFiles=%" PRIu64 "\n", i, a[i].cFiles);
	}
}

/*
 * Prints each output in parameter order, also after a failure: the API
 * zeroes its outputs then, which is worth seeing.  An array's length is the
 * count argument just before it; the array is then freed.
 */
static void print_outputs(const struct function *f, struct arg *args)
{
	for (size_t i = 0; i < function_arity(f); i++) {
		const struct param *p = &f->params[i];
		const struct arg *count = i ? &args[i - 1] : NULL;
		unsigned long n = count && !count->is_null &&
			kinds[f->params[i - 1].kind].shape == SH_PINT ? count->target.u64 : 0;

		if (args[i].is_null)
			continue;
		switch (kinds[p->kind].shape) {
		case SH_PINT:
			printf("%s=%" PRIu64 "\n", output_name(p), args[i].target.u64);
			break;
		case SH_PPINFO:
			if (!args[i].target.info)
				printf("%s=null\n", output_name(p));
			print_instance_info(args[i].target.info, args[i].target.info ? n : 0);
			JetFreeBuffer((char *)args[i].target.info);
			break;
		case SH_PPSTATUS:
			if (!args[i].target.status)
				printf("%s=null\n", output_name(p));
			print_instance_status(args[i].target.status, args[i].target.status ? n : 0);
			JetFreeBuffer((char *)args[i].target.status);
			break;
		case SH_STRBUF:
			printf("%s=%s\n", output_name(p), args[i].buf);
			break;
		default:
			break;
		}
	}
}

static int usage_arity(const struct function *f, int given)
{
	fprintf(stderr, "jetsnap call: %s takes %zu argument%s, got %d: ", f->name,
		function_arity(f), function_arity(f) == 1 ? "" : "s", given);
	print_signature(stderr, f);
	fprintf(stderr, "; see 'jetsnap call --help'\n");
	return CLI_USAGE;
}

static int invoke(const struct function *f, struct arg *args)
{
	size_t n = function_arity(f);
	ffi_type *types[MAX_PARAMS];
	void *values[MAX_PARAMS];
	ffi_cif cif;
	ffi_arg result;
	JET_ERR err;
	char *reason = NULL;

	for (size_t i = 0; i < n; i++) {
		types[i] = kinds[f->params[i].kind].ffi;
		values[i] = &args[i].value;
	}
	if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, n, f->ret == RET_ERR ? &ffi_type_sint32 :
			 &ffi_type_pointer, types) != FFI_OK)
		return cli_fail(self, "libffi cannot describe %s (a bug in jetsnap call)", f->name);
	ffi_call(&cif, f->fn, &result, values);

	if (f->ret == RET_STR) {
		const char *text = (const char *)(uintptr_t)result;

		printf("%s\n", text ? text : "null");
		return text ? CLI_OK : CLI_FAILED;
	}
	/* A JET_ERR comes back widened to ffi_arg; and the reason dies with the next call. */
	err = (JET_ERR)(int32_t)result;
	if (err && *JetsnapLastReason())
		reason = strdup(JetsnapLastReason());
	printf("%s (%d)\n", cli_err_name(err), err);
	print_outputs(f, args);
	if (reason)
		printf("reason=%s\n", reason);
	if (err)
		fprintf(stderr, "jetsnap call: %s returned %s (%d)%s%s\n", f->name, cli_err_name(err),
			err, reason ? ": " : "", reason ? reason : "");
	free(reason);
	return err ? CLI_FAILED : CLI_OK;
}

int cmd_call(const struct cli_command *cmd, int argc, char **argv)
{
	const struct function *f;
	struct arg args[MAX_PARAMS];
	int rc;

	self = cmd;
	if (argc < 2)
		return cli_usage_error(cmd, "no function given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return print_help();
	f = find_function(argv[1]);
	if (!f)
		return cli_usage_error(cmd, "unknown function '%s'", argv[1]);
	if ((size_t)(argc - 2) != function_arity(f))
		return usage_arity(f, argc - 2);
	for (size_t i = 0; i < function_arity(f); i++) {
		rc = parse_arg(&f->params[i], argv[i + 2], &args[i]);
		if (rc)
			return rc;
	}
	rc = allocate_buffers(f, args);
	if (!rc)
		rc = invoke(f, args);
	for (size_t i = 0; i < function_arity(f); i++)
		free(args[i].buf);
	return rc;
}
