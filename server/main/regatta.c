/*
 * regatta — the server. Subcommands: leader, follower, version.
 */
#include "server/version.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: regatta <command> [flags]\n\n"
		     "commands:\n"
		     "  leader     run a node of the leader cluster\n"
		     "  follower   run a node of a follower cluster\n"
		     "  version    print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("regatta %s (%s)\n", regatta_version(), regatta_build_info());
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "regatta: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
