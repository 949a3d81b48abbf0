/*
 * cmd_audit.c - `rampart audit verify`: recomputes the audit log's hash
 * chain (docs/store.md, "Audit chain") and says where it breaks.
 *
 * An intact chain ends with the head's hash, printed so that it can be
 * kept somewhere the database's writers cannot reach: a later run whose
 * chain passes through the same entry with the same hash proves that
 * nothing up to it was rewritten, even by someone who recomputed every
 * hash after it.
 */
#include <string.h>

#include "cli.h"
#include "util/log.h"

#define CMD "audit verify"

enum { O_HELP, O_CONFIG, O_STORE };

static const cli_opt opts[] = {
	[O_HELP] = {"--help", 0},
	[O_CONFIG] = {"--config", 1},
	[O_STORE] = {"--store", 1},
	{NULL, 0},
};

static void usage(FILE *out)
{
	fputs("usage: rampart audit verify [--config FILE | --store URL]\n"
	      "\n"
	      "Checks the audit log's hash chain from the first entry to the head: every\n"
	      "entry's hash, no entry missing, none reordered, none cut from the end.\n"
	      "Prints how many entries were checked and the head's hash (keep it: it\n"
	      "anchors the chain), or the id of the first broken entry.\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE  rampartd's configuration, for its store (default\n"
	      "                 " CLI_DEFAULT_CONFIG ")\n"
	      "  --store URL    the store itself: sqlite:PATH or postgresql://...\n"
	      "\n"
	      "Exit status: 0 the chain is intact, 1 it is broken (or the store cannot be\n"
	      "read), 2 usage.\n",
	      out);
}

/*
 * The last entry verified: ids run 1 .. checked without gaps in a chain
 * that verified, so it is entry `checked` (entries appended since are not
 * verified and not printed). 0 or -1.
 */
static int print_head(rp_store *st, uint64_t checked)
{
	rp_store_audit_filter f;
	rp_store_audit_entry *e = NULL;
	size_t n = 0;
	rp_status s;

	if (checked == 0) {
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.after_id = (int64_t)checked - 1;
	f.limit = 1;
	s = rp_store_audit_query(st, &f, &e, &n, NULL, NULL);
	if (s != RP_OK) {
		cli_fail(CMD, "store", rp_status_str(s));
		return -1;
	}
	if (n == 1 && e[0].id == (int64_t)checked) {
		printf("head: entry %lld, hash %s\n", (long long)e[0].id, e[0].hash);
	}
	rp_store_free(e);
	return 0;
}

static int verify(rp_store *st)
{
	int64_t bad = 0;
	uint64_t checked = 0;
	char what[48];
	rp_status s;

	s = rp_store_audit_verify(st, &bad, &checked, NULL, NULL);
	if (s == RP_E_CRYPTO && bad > 0) {
		printf("audit log: %llu entr%s checked, chain broken at entry %lld\n",
		       (unsigned long long)checked, checked == 1 ? "y" : "ies", (long long)bad);
		(void)snprintf(what, sizeof(what), "entry %lld", (long long)bad);
		return cli_fail(CMD, what,
				"the hash chain breaks here: this entry, or one next to it, "
				"was changed, removed or moved");
	}
	if (s != RP_OK) {
		return cli_fail(CMD, "store", rp_status_str(s));
	}
	printf("audit log: %llu entr%s checked, chain intact\n", (unsigned long long)checked,
	       checked == 1 ? "y" : "ies");
	return print_head(st, checked) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int verify_main(int argc, char **argv)
{
	const char *config = NULL, *store = NULL, *v;
	rp_store *st = NULL;
	cli_args a;
	int k, rc;

	cli_args_init(&a, CMD, argc - 1, argv + 1);
	while ((k = cli_args_next(&a, opts, &v)) != CLI_ARG_END) {
		if (k == CLI_ARG_ERROR) {
			return CLI_EXIT_USAGE;
		}
		if (k == CLI_ARG_POSITIONAL) {
			return cli_usage_error(CMD, v, "unexpected argument");
		}
		if (k == O_HELP) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		*(k == O_CONFIG ? &config : &store) = v;
	}
	if (config != NULL && store != NULL) {
		return cli_usage_error(CMD, "--config", "and --store exclude each other");
	}
	rp_log_set_level(RP_LOG_WARN);
	if (cli_store_open(CMD, config, store, 0, &st) != 0) {
		return CLI_EXIT_FAIL;
	}
	rc = verify(st);
	rp_store_close(st);
	return rc;
}

int cli_audit_main(int argc, char **argv)
{
	if (argc < 2 || cli_is_help(argv[1])) {
		fputs("usage: rampart audit verify [--config FILE | --store URL]\n",
		      argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "verify") == 0) {
		return verify_main(argc - 1, argv + 1);
	}
	return cli_usage_error("audit", argv[1], "unknown command (want: verify)");
}
