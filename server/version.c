/* version.c — see version.h. REGATTA_GIT_COMMIT is passed by the build when known. */
#include "server/version.h"

#ifndef REGATTA_GIT_COMMIT
#define REGATTA_GIT_COMMIT "unknown"
#endif

const char *regatta_version(void) { return "0.1.0"; }

const char *regatta_build_info(void)
{
	return "commit " REGATTA_GIT_COMMIT ", built " __DATE__
#ifdef REGATTA_SANITIZE
	       ", asan+ubsan"
#endif
		;
}
