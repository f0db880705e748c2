/*
 * regattactl — the operator's command-line client.
 */
#include "server/version.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf("regattactl %s (%s)\n", regatta_version(), regatta_build_info());
		return 0;
	}
	fprintf(stderr, "usage: regattactl <command> [flags]\n");
	return 2;
}
