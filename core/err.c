/* err.c — text for the project-wide error codes and the errno mapping. */
#include "core/err.h"

#include <errno.h>

const char *err_str(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOMEM: return "out of memory or pool exhausted";
	case ERR_INVAL: return "invalid argument";
	case ERR_IO: return "I/O error";
	case ERR_CORRUPT: return "data corruption detected";
	case ERR_NOTFOUND: return "not found";
	case ERR_EXISTS: return "already exists";
	case ERR_AGAIN: return "try again";
	case ERR_BUSY: return "busy";
	case ERR_TIMEOUT: return "timed out";
	case ERR_CANCELED: return "canceled";
	case ERR_CLOSED: return "closed";
	case ERR_PROTO: return "protocol error";
	case ERR_TOOBIG: return "too big";
	case ERR_NOTLEADER: return "not the leader";
	case ERR_UNSUPPORTED: return "not supported";
	case ERR_RANGE: return "out of range";
	case ERR_CONN: return "connection failed";
	case ERR_PERM: return "permission denied";
	case ERR_STOPPED: return "stopped";
	case ERR_NOSPC: return "no space left on device";
	default: return "unknown error";
	}
}

int err_from_errno(int e)
{
	if (e < 0)
		e = -e;
	switch (e) {
	case 0: return ERR_OK;
	case ENOMEM: return ERR_NOMEM;
	case EINVAL: return ERR_INVAL;
	case ENOENT: return ERR_NOTFOUND;
	case EEXIST: return ERR_EXISTS;
	case EAGAIN: return ERR_AGAIN;
	case EBUSY: return ERR_BUSY;
	case ETIMEDOUT:
	case ETIME: return ERR_TIMEOUT;
	case ECANCELED: return ERR_CANCELED;
	case EPIPE:
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case EHOSTUNREACH:
	case ENETUNREACH: return ERR_CONN;
	case EACCES:
	case EPERM: return ERR_PERM;
	case ENOSPC: return ERR_NOSPC;
	case EMSGSIZE:
	case EFBIG:
	case E2BIG: return ERR_TOOBIG;
	case ENOSYS:
	case EOPNOTSUPP: return ERR_UNSUPPORTED;
	default: return ERR_IO;
	}
}
