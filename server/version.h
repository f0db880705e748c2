/* version.h — the version and build information printed by `regatta version`. */
#ifndef SERVER_VERSION_H
#define SERVER_VERSION_H

const char *regatta_version(void);
const char *regatta_build_info(void);

#endif
