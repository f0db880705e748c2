/* version.c — see version.h. The build generates git_commit.h (cmake/GitCommit.cmake). */
#include "server/version.h"

#if __has_include("git_commit.h")
#include "git_commit.h"
#endif

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
